package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
)

// Node is an app node: the test binary re-executed with [NodeEnv] set, so
// that it can be SIGKILLed like a pod.
type Node struct {
	tb   testing.TB
	cfg  NodeConfig
	logf string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartNode starts an app node and waits until it answers /healthz.
func StartNode(tb testing.TB, cfg NodeConfig) *Node {
	tb.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	n := &Node{tb: tb, cfg: cfg, logf: filepath.Join(tb.TempDir(), cfg.Name+".log")}
	n.Start()
	tb.Cleanup(func() {
		n.Kill()
		n.checkLog()
	})
	return n
}

// checkLog fails the test if the node's log shows a data race (the node is
// the test binary, built with -race under `make test`) or a panic: a node
// that is SIGKILLed never gets to fail the test itself.
func (n *Node) checkLog() {
	b, err := os.ReadFile(n.logf)
	if err != nil {
		n.tb.Errorf("chaos: node %s log: %v", n.cfg.Name, err)
		return
	}
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if i := strings.Index(string(b), bad); i >= 0 {
			n.tb.Errorf("chaos: node %s: %s in its log:\n%s", n.cfg.Name, bad, tail(b[i:]))
			return
		}
	}
}

// Addr is the node's address; it stays the same across Kill and Start.
func (n *Node) Addr() string { return n.cfg.Addr }

// Name is the node's name (its X-Node header).
func (n *Node) Name() string { return n.cfg.Name }

// Start (re)starts the node on its address and waits until it is ready.
func (n *Node) Start() {
	n.tb.Helper()
	raw, _ := json.Marshal(n.cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), NodeEnv+"="+string(raw))
	logf, err := os.OpenFile(n.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.tb.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		n.tb.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		n.tb.Fatalf("chaos: start node %s: %v", n.cfg.Name, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case a := <-addr:
		n.cfg.Addr = a
	case <-done:
		b, _ := os.ReadFile(n.logf)
		n.tb.Fatalf("chaos: node %s exited during startup:\n%s", n.cfg.Name, tail(b))
	case <-time.After(30 * time.Second):
		n.tb.Fatalf("chaos: node %s did not start in 30s", n.cfg.Name)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + n.cfg.Addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			n.tb.Fatalf("chaos: node %s not healthy: %v", n.cfg.Name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the node with SIGKILL, as the kernel's OOM killer or a node
// failure would: no shutdown, its cache gone.
func (n *Node) Kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Runtime asks the node for its goroutines, heap and open files.
func (n *Node) Runtime() (Runtime, error) {
	var rt Runtime
	res, err := http.Get("http://" + n.cfg.Addr + "/debug")
	if err != nil {
		return rt, err
	}
	defer res.Body.Close()
	err = json.NewDecoder(res.Body).Decode(&rt)
	return rt, err
}

func tail(b []byte) string {
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// NginxConf is the NGINX configuration in front of the nodes: sticky by the
// session cookie, with the settings the examples recommend (see
// examples/cluster/nginx-cookie-hash.conf): a node that fails once is left
// out for 2 s, a connection attempt gives up after 1 s, and a request that
// could not reach a node is tried on one more.
func NginxConf(nodes []*Node) string {
	var b strings.Builder
	b.WriteString("upstream app {\n\thash $cookie_sid consistent;\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "\tserver %s max_fails=1 fail_timeout=2s;\n", n.Addr())
	}
	b.WriteString(`}
server {
	listen ` + testserver.NginxListen + `;
	location / {
		proxy_pass http://app;
		proxy_connect_timeout 1s;
		proxy_read_timeout 10s;
		proxy_next_upstream error timeout;
		proxy_next_upstream_tries 2;
	}
}
`)
	return b.String()
}

// Cluster is app nodes behind NGINX.
type Cluster struct {
	Nodes []*Node
	Nginx *testserver.NginxServer
}

// StartCluster starts count nodes from cfg (named node1, node2, …), one
// after the other, and NGINX in front of them.
func StartCluster(tb testing.TB, cfg NodeConfig, count int) *Cluster {
	tb.Helper()
	c := &Cluster{}
	for i := range count {
		nc := cfg
		nc.Name = fmt.Sprintf("node%d", i+1)
		if cfg.Bolt != "" {
			nc.Bolt = fmt.Sprintf("%s.%d", cfg.Bolt, i+1)
		}
		c.Nodes = append(c.Nodes, StartNode(tb, nc))
	}
	c.Nginx = testserver.Nginx(tb, NginxConf(c.Nodes))
	return c
}

// URL is NGINX's base URL.
func (c *Cluster) URL() string { return "http://" + c.Nginx.Addr() }

// Direct returns the nodes' own base URLs.
func (c *Cluster) Direct() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, "http://"+n.Addr())
	}
	return out
}
