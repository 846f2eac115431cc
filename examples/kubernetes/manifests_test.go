package kubernetes

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// appCookie is the session cookie of examples/cluster/app. The ingress
// controller's routing cookie must have another name, or it would overwrite
// the session.
const appCookie = "sid"

// appFlags are the flags examples/cluster/app accepts.
var appFlags = map[string]bool{
	"addr": true, "redis": true, "bolt": true, "node": true, "secure-cookie": true, "cache-bytes": true,
	"peers": true, "peer-dns": true, "self": true, "local-hold": true,
}

// workload is a Deployment or a StatefulSet, seen through what the checks
// need.
type workload struct {
	kind, name string
	selector   map[string]string
	template   corev1.PodTemplateSpec
	claims     []corev1.PersistentVolumeClaim // a StatefulSet's volumeClaimTemplates
}

func workloads(docs []document) []workload {
	var out []workload
	for _, d := range objects[*appsv1.Deployment](docs) {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template, nil})
	}
	for _, s := range objects[*appsv1.StatefulSet](docs) {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Selector.MatchLabels, s.Spec.Template, s.Spec.VolumeClaimTemplates})
	}
	return out
}

// isApp reports whether w runs the Tether app (a container named "app").
func (w workload) isApp() bool { return w.container("app") != nil }

func (w workload) container(name string) *corev1.Container {
	for i := range w.template.Spec.Containers {
		if c := &w.template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	return nil
}

// flag returns the value of the app container's -name=value argument.
func (w workload) flag(name string) (string, bool) {
	c := w.container("app")
	if c == nil {
		return "", false
	}
	for _, arg := range c.Args {
		n, v, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if n == name {
			return v, true
		}
	}
	return "", false
}

// routesByAffinity reports whether w's app routes users to their pods
// itself (package affinity).
func (w workload) routesByAffinity() bool {
	_, dns := w.flag("peer-dns")
	_, static := w.flag("peers")
	return dns || static
}

// discoversPeers reports whether w's app finds its peers by DNS: the
// example of affinity behind a Service that is not sticky.
func (w workload) discoversPeers() bool {
	_, dns := w.flag("peer-dns")
	return dns
}

// hasPort reports whether a container of w exposes port, by name or number.
func (w workload) hasPort(port intstr.IntOrString) bool {
	for _, c := range w.template.Spec.Containers {
		for _, p := range c.Ports {
			if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
				return true
			}
		}
	}
	return false
}

// selected returns the workloads whose pods svc selects.
func selected(svc *corev1.Service, ws []workload) []workload {
	var out []workload
	for _, w := range ws {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

func TestWorkloadSelectorsMatchTheirPods(t *testing.T) {
	for _, w := range workloads(loadManifests(t)) {
		if len(w.selector) == 0 {
			t.Errorf("%s %s: empty selector", w.kind, w.name)
		}
		if !labels.SelectorFromSet(w.selector).Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s %s: selector %v does not match its pod labels %v", w.kind, w.name, w.selector, w.template.Labels)
		}
	}
}

func TestServicesSelectOneWorkload(t *testing.T) {
	docs := loadManifests(t)
	ws := workloads(docs)
	for _, svc := range objects[*corev1.Service](docs) {
		sel := selected(svc, ws)
		if len(sel) != 1 {
			t.Errorf("Service %s (selector %v) selects %d workloads, want 1", svc.Name, svc.Spec.Selector, len(sel))
			continue
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			if !sel[0].hasPort(target) {
				t.Errorf("Service %s port %s: target %s is not a container port of %s %s", svc.Name, p.Name, target.String(), sel[0].kind, sel[0].name)
			}
		}
	}
}

// TestAppServicesAreSticky: every Service in front of the app pins a client
// to a pod for as long as a session idles, except headless Services, which
// balance nothing, and that of the app that finds its peers by DNS and
// routes by affinity itself behind a plain Service (TestAffinity checks it).
func TestAppServicesAreSticky(t *testing.T) {
	docs := loadManifests(t)
	ws := workloads(docs)
	sticky := 0
	for _, svc := range objects[*corev1.Service](docs) {
		sel := selected(svc, ws)
		if len(sel) != 1 || !sel[0].isApp() || sel[0].discoversPeers() {
			continue
		}
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		sticky++
		if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
			t.Errorf("Service %s: sessionAffinity %q, want ClientIP", svc.Name, svc.Spec.SessionAffinity)
			continue
		}
		cfg := svc.Spec.SessionAffinityConfig
		if cfg == nil || cfg.ClientIP == nil || cfg.ClientIP.TimeoutSeconds == nil {
			t.Errorf("Service %s: no sessionAffinityConfig.clientIP.timeoutSeconds", svc.Name)
			continue
		}
		// Kubernetes accepts 1..86400 seconds.
		if s := *cfg.ClientIP.TimeoutSeconds; s < 1 || s > 86400 {
			t.Errorf("Service %s: affinity timeout %d s outside 1..86400", svc.Name, s)
		}
	}
	if sticky != 2 {
		t.Errorf("%d sticky app Services, want 2 (Deployment and StatefulSet)", sticky)
	}
}

func TestStatefulSetHasHeadlessService(t *testing.T) {
	docs := loadManifests(t)
	services := map[string]*corev1.Service{}
	for _, svc := range objects[*corev1.Service](docs) {
		services[svc.Name] = svc
	}
	for _, sts := range objects[*appsv1.StatefulSet](docs) {
		svc := services[sts.Spec.ServiceName]
		if svc == nil {
			t.Errorf("StatefulSet %s: serviceName %q is not a Service in the manifests", sts.Name, sts.Spec.ServiceName)
			continue
		}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("StatefulSet %s: governing Service %s is not headless (clusterIP %q)", sts.Name, svc.Name, svc.Spec.ClusterIP)
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(sts.Spec.Template.Labels)) {
			t.Errorf("StatefulSet %s: Service %s does not select its pods", sts.Name, svc.Name)
		}
	}
}

// TestSessionFiles: an app that keeps its sessions in a file (BOLT_PATH)
// is a StatefulSet whose file lies on a writable volume from its own
// ReadWriteOnce claim template, so that each pod keeps its file across
// restarts and no two pods share one; the app's user can write it; and
// every claim template is mounted.
func TestSessionFiles(t *testing.T) {
	bolt := 0
	for _, w := range workloads(loadManifests(t)) {
		c := w.container("app")
		if c == nil {
			continue
		}
		where := w.kind + " " + w.name
		mounted := map[string]bool{}
		for _, m := range c.VolumeMounts {
			mounted[m.Name] = true
		}
		for _, claim := range w.claims {
			if !mounted[claim.Name] {
				t.Errorf("%s: claim template %s is not mounted", where, claim.Name)
			}
		}
		path := ""
		for _, e := range c.Env {
			if e.Name == "BOLT_PATH" {
				path = e.Value
			}
		}
		if path == "" {
			continue
		}
		bolt++
		if w.kind != "StatefulSet" {
			t.Errorf("%s: BOLT_PATH in a %s, whose pods have no volume of their own", where, w.kind)
			continue
		}
		if !strings.HasPrefix(path, "/") {
			t.Errorf("%s: BOLT_PATH %q is not absolute", where, path)
			continue
		}
		var mount *corev1.VolumeMount
		for i, m := range c.VolumeMounts {
			if dir := strings.TrimSuffix(m.MountPath, "/") + "/"; strings.HasPrefix(path, dir) && (mount == nil || len(m.MountPath) > len(mount.MountPath)) {
				mount = &c.VolumeMounts[i]
			}
		}
		if mount == nil {
			t.Errorf("%s: BOLT_PATH %q is on no volume mount: the file would die with the container", where, path)
			continue
		}
		if mount.ReadOnly {
			t.Errorf("%s: the volume mount of BOLT_PATH is read-only", where)
		}
		var claim *corev1.PersistentVolumeClaim
		for i := range w.claims {
			if w.claims[i].Name == mount.Name {
				claim = &w.claims[i]
			}
		}
		if claim == nil {
			t.Errorf("%s: BOLT_PATH is on volume %s, which is not one of the StatefulSet's claim templates", where, mount.Name)
			continue
		}
		if len(claim.Spec.AccessModes) != 1 || claim.Spec.AccessModes[0] != corev1.ReadWriteOnce {
			t.Errorf("%s: claim %s access modes %v, want [ReadWriteOnce]: one pod per file", where, claim.Name, claim.Spec.AccessModes)
		}
		if q, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.IsZero() {
			t.Errorf("%s: claim %s requests no storage", where, claim.Name)
		}
		if sc := w.template.Spec.SecurityContext; sc == nil || sc.FSGroup == nil || sc.RunAsGroup == nil || *sc.FSGroup != *sc.RunAsGroup {
			t.Errorf("%s: pod securityContext.fsGroup must be the app's group, so that it can write the volume", where)
		}
	}
	if bolt != 1 {
		t.Errorf("%d app workloads keep sessions in a file, want 1 (the StatefulSet)", bolt)
	}
}

func TestAppContainers(t *testing.T) {
	docs := loadManifests(t)
	services := map[string]*corev1.Service{}
	for _, svc := range objects[*corev1.Service](docs) {
		services[svc.Name] = svc
	}
	apps := 0
	for _, w := range workloads(docs) {
		c := w.container("app")
		if c == nil {
			continue
		}
		apps++
		where := w.kind + " " + w.name
		for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if probe == nil || probe.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", where, name)
				continue
			}
			if probe.HTTPGet.Path != "/healthz" {
				t.Errorf("%s: %s probe on %q, want /healthz (the one route that never touches a session or Redis)", where, name, probe.HTTPGet.Path)
			}
			if !w.hasPort(probe.HTTPGet.Port) {
				t.Errorf("%s: %s probe port %s is not a container port", where, name, probe.HTTPGet.Port.String())
			}
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			q, ok := c.Resources.Requests[res]
			if !ok || q.IsZero() {
				t.Errorf("%s: no %s request", where, res)
			}
		}
		if limit, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && limit.Cmp(c.Resources.Requests[corev1.ResourceMemory]) < 0 {
			t.Errorf("%s: memory limit %s below the request", where, limit.String())
		}

		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		addr, ok := env["REDIS_ADDR"]
		_, bolt := env["BOLT_PATH"]
		switch {
		case ok && bolt:
			t.Errorf("%s: both REDIS_ADDR and BOLT_PATH; the app uses one store", where)
		case !ok && !bolt:
			t.Errorf("%s: neither REDIS_ADDR nor BOLT_PATH", where)
		case !ok:
			// Sessions in a file: TestSessionFiles checks it.
		default:
			if host, port, err := net.SplitHostPort(addr.Value); err != nil {
				t.Errorf("%s: REDIS_ADDR %q: %v", where, addr.Value, err)
			} else if svc := services[host]; svc == nil {
				t.Errorf("%s: REDIS_ADDR names %q, which is not a Service in the manifests", where, host)
			} else if !servesPort(svc, port) {
				t.Errorf("%s: Service %s has no port %s", where, host, port)
			}
		}
		if e, ok := env["NODE_NAME"]; !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
			t.Errorf("%s: NODE_NAME must come from the pod's name (X-Node)", where)
		}
		for _, arg := range c.Args {
			name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if !strings.HasPrefix(arg, "-") || !appFlags[name] {
				t.Errorf("%s: argument %q is not a flag of the app", where, arg)
			}
		}
	}
	if apps != 3 {
		t.Errorf("%d app workloads, want 3 (Deployment, StatefulSet, affinity Deployment)", apps)
	}
}

func servesPort(svc *corev1.Service, port string) bool {
	for _, p := range svc.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == port {
			return true
		}
	}
	return false
}

// TestRedisNeverEvicts: an evicted session is a user logged out for nothing,
// and redisstore warns about any policy but noeviction.
func TestRedisNeverEvicts(t *testing.T) {
	docs := loadManifests(t)
	found := false
	for _, w := range workloads(docs) {
		c := w.container("redis")
		if c == nil {
			continue
		}
		found = true
		args := strings.Join(c.Args, " ")
		if !strings.Contains(args, "--maxmemory-policy noeviction") {
			t.Errorf("%s %s: redis args %q lack --maxmemory-policy noeviction", w.kind, w.name, args)
		}
	}
	if !found {
		t.Error("no redis container")
	}
}

// TestIngressCookieAffinity checks the ingress-nginx annotations that make
// the controller sticky by a cookie of its own.
func TestIngressCookieAffinity(t *testing.T) {
	docs := loadManifests(t)
	services := map[string]*corev1.Service{}
	for _, svc := range objects[*corev1.Service](docs) {
		services[svc.Name] = svc
	}
	ingresses := objects[*networkingv1.Ingress](docs)
	if len(ingresses) == 0 {
		t.Fatal("no Ingress")
	}
	const prefix = "nginx.ingress.kubernetes.io/"
	for _, ing := range ingresses {
		a := ing.Annotations
		for key, want := range map[string]string{
			"affinity":                         "cookie",
			"affinity-mode":                    "persistent",
			"session-cookie-change-on-failure": "true",
		} {
			if got := a[prefix+key]; got != want {
				t.Errorf("Ingress %s: %s%s = %q, want %q", ing.Name, prefix, key, got, want)
			}
		}
		switch name := a[prefix+"session-cookie-name"]; name {
		case "":
			t.Errorf("Ingress %s: no session-cookie-name", ing.Name)
		case appCookie:
			t.Errorf("Ingress %s: routing cookie %q is the app's session cookie; the controller would overwrite it", ing.Name, name)
		}
		for _, key := range []string{"session-cookie-max-age", "session-cookie-expires"} {
			if n, err := strconv.Atoi(a[prefix+key]); err != nil || n <= 0 {
				t.Errorf("Ingress %s: %s%s = %q, want a positive number of seconds", ing.Name, prefix, key, a[prefix+key])
			}
		}
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			t.Errorf("Ingress %s: ingressClassName is not nginx; the annotations are ingress-nginx's", ing.Name)
		}
		backends := 0
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				backends++
				b := p.Backend.Service
				if b == nil {
					t.Errorf("Ingress %s path %s: no service backend", ing.Name, p.Path)
					continue
				}
				svc := services[b.Name]
				if svc == nil {
					t.Errorf("Ingress %s path %s: backend Service %q not in the manifests", ing.Name, p.Path, b.Name)
					continue
				}
				ok := false
				for _, sp := range svc.Spec.Ports {
					ok = ok || (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Number != 0 && sp.Port == b.Port.Number)
				}
				if !ok {
					t.Errorf("Ingress %s path %s: Service %s has no port %+v", ing.Name, p.Path, b.Name, b.Port)
				}
			}
		}
		if backends == 0 {
			t.Errorf("Ingress %s: no backends", ing.Name)
		}
	}
}

// TestAffinity: an app that routes users itself finds its peers either
//
//   - through a headless Service that selects exactly its pods, on the port
//     the app listens on, knowing its own address from the pod's IP; it is
//     fronted by a Service that is not sticky (the point of that example),
//     and keeps sessions in Redis, because peers found by DNS are known by
//     IP, which a restarted pod does not keep; or
//   - by the stable names of a StatefulSet's pods, every replica listed
//     under its governing Service, itself by its own pod name, so that a
//     restarted pod gets its users and its file back.
func TestAffinity(t *testing.T) {
	docs := loadManifests(t)
	ws := workloads(docs)
	services := map[string]*corev1.Service{}
	for _, svc := range objects[*corev1.Service](docs) {
		services[svc.Name] = svc
	}
	statefulSets := map[string]*appsv1.StatefulSet{}
	for _, sts := range objects[*appsv1.StatefulSet](docs) {
		statefulSets[sts.Name] = sts
	}
	dns, static := 0, 0
	for _, w := range ws {
		if !w.routesByAffinity() {
			continue
		}
		where := w.kind + " " + w.name
		if _, ok := w.flag("peer-dns"); ok {
			dns++
			checkPeerDNS(t, where, w, ws, services)
		} else {
			static++
			checkPeerNames(t, where, w, statefulSets[w.name])
		}
	}
	if dns != 1 || static != 1 {
		t.Errorf("%d app workloads find peers by DNS and %d by name, want 1 and 1", dns, static)
	}
}

func checkPeerDNS(t *testing.T, where string, w workload, ws []workload, services map[string]*corev1.Service) {
	t.Helper()
	peerDNS, _ := w.flag("peer-dns")
	host, port, err := net.SplitHostPort(peerDNS)
	if err != nil {
		t.Errorf("%s: -peer-dns %q: %v", where, peerDNS, err)
		return
	}
	svc := services[host]
	switch {
	case svc == nil:
		t.Errorf("%s: -peer-dns names %q, which is not a Service in the manifests", where, host)
		return
	case svc.Spec.ClusterIP != corev1.ClusterIPNone:
		t.Errorf("%s: discovery Service %s is not headless: its name would resolve to one virtual IP", where, host)
	}
	if sel := selected(svc, ws); len(sel) != 1 || sel[0].name != w.name {
		t.Errorf("%s: discovery Service %s does not select exactly its pods", where, host)
	}
	// A headless Service's DNS answer carries no port: the pods are reached
	// on the container port itself.
	checkPeerPort(t, where, w, port)
	if _, self := w.flag("self"); !self && !envFromField(w, "POD_IP", "status.podIP") {
		t.Errorf("%s: neither -self nor POD_IP from status.podIP: the pod cannot tell which peer it is", where)
	}
	for _, e := range w.container("app").Env {
		if e.Name == "BOLT_PATH" {
			t.Errorf("%s: sessions in a file, with peers known by IP: a restarted pod would lose its users", where)
		}
	}
	fronts := 0
	for _, svc := range services {
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		if sel := selected(svc, ws); len(sel) == 1 && sel[0].name == w.name {
			fronts++
			if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
				t.Errorf("Service %s: sticky, in front of the app that shows affinity behind a plain Service", svc.Name)
			}
		}
	}
	if fronts != 1 {
		t.Errorf("%s: %d client Services, want 1", where, fronts)
	}
}

func checkPeerNames(t *testing.T, where string, w workload, sts *appsv1.StatefulSet) {
	t.Helper()
	if sts == nil {
		t.Errorf("%s: a static peer list in a %s, whose pods have no stable names", where, w.kind)
		return
	}
	peers, _ := w.flag("peers")
	replicas := 1
	if sts.Spec.Replicas != nil {
		replicas = int(*sts.Spec.Replicas)
	}
	var port string
	names := strings.Split(peers, ",")
	if len(names) != replicas {
		t.Errorf("%s: -peers lists %d peers for %d replicas", where, len(names), replicas)
	}
	for i, p := range names {
		host, pt, err := net.SplitHostPort(p)
		if err != nil {
			t.Errorf("%s: peer %q: %v", where, p, err)
			continue
		}
		if want := fmt.Sprintf("%s-%d.%s", sts.Name, i, sts.Spec.ServiceName); host != want {
			t.Errorf("%s: peer %d is %q, want the pod's stable name %q", where, i, host, want)
		}
		if port != "" && pt != port {
			t.Errorf("%s: peers on ports %s and %s", where, port, pt)
		}
		port = pt
	}
	checkPeerPort(t, where, w, port)
	self, _ := w.flag("self")
	if want := "$(NODE_NAME)." + sts.Spec.ServiceName + ":" + port; self != want {
		t.Errorf("%s: -self %q, want %q", where, self, want)
	}
	if !envFromField(w, "NODE_NAME", "metadata.name") {
		t.Errorf("%s: NODE_NAME, which -self expands, is not the pod's name", where)
	}
}

// checkPeerPort: peers are reached on a container port, the one the app
// listens on.
func checkPeerPort(t *testing.T, where string, w workload, port string) {
	t.Helper()
	p, _ := strconv.Atoi(port)
	if !w.hasPort(intstr.FromInt32(int32(p))) {
		t.Errorf("%s: peers are reached on port %s, not a container port", where, port)
	}
	if addr, _ := w.flag("addr"); !strings.HasSuffix(addr, ":"+port) {
		t.Errorf("%s: the app listens on %q, the peers are reached on port %s", where, addr, port)
	}
}

// envFromField reports whether the app container's variable name comes
// from the pod field path.
func envFromField(w workload, name, path string) bool {
	for _, e := range w.container("app").Env {
		if e.Name == name {
			return e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == path
		}
	}
	return false
}
