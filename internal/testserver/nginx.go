package testserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// NginxListen is the placeholder that [Nginx] replaces with the address it
// picked, "127.0.0.1:port". Write it where a listen directive's address
// goes: `listen {{listen}};`.
const NginxListen = "{{listen}}"

// NginxServer is an nginx started by [Nginx] and stopped when the test ends.
// It is safe for concurrent use, but Stop and Start report failures with
// tb.Fatalf and so belong on the test's goroutine.
type NginxServer struct {
	server
	conf string // path of the generated nginx.conf
}

// Nginx starts nginx with conf as the body of its http block: upstream and
// server blocks, typically a sticky load balancer in front of test servers.
// Every occurrence of [NginxListen] in conf is replaced with the address
// nginx will listen on, which [NginxServer.Addr] returns; conf must contain
// it at least once. For example:
//
//	ng := testserver.Nginx(t, `
//		upstream app {
//			hash $cookie_sid consistent;
//			server `+a+` max_fails=1 fail_timeout=2s;
//			server `+b+` max_fails=1 fail_timeout=2s;
//		}
//		server {
//			listen {{listen}};
//			location / {
//				proxy_pass http://app;
//				proxy_connect_timeout 1s;
//				proxy_next_upstream error timeout;
//				proxy_next_upstream_tries 2;
//			}
//		}`)
//	resp, err := http.Get("http://" + ng.Addr() + "/")
//
// The upstream settings there are the ones examples/cluster recommends and
// internal/chaos measures: a node that fails once is skipped for 2 s instead
// of being tried (and logged) on every request, a connection attempt gives
// up after 1 s, and a request that could not reach a node is tried on one
// more.
//
// The package writes the rest of the configuration: pid file, error log and
// all temp paths inside a temporary prefix directory, one worker, access log
// off, and `master_process off` so that nginx is a single process that dies
// with the test binary. Further listeners can use ports from [FreePort]. When
// the test runs as root, workers run as root too (`user root;`), because the
// default "nobody" could not write to the 0700 temporary directory.
func Nginx(tb testing.TB, conf string) *NginxServer {
	tb.Helper()
	if !strings.Contains(conf, NginxListen) {
		tb.Fatalf("testserver: nginx config must contain %s where the listen address goes", NginxListen)
	}
	path := lookBinary(tb, "nginx")
	dir := tb.TempDir()
	confPath := filepath.Join(dir, "nginx.conf")
	logPath := filepath.Join(dir, "error.log")

	srv := launch(tb, "nginx", freePort, tcpConnect, syscall.SIGTERM, func(port int) *process {
		body := strings.ReplaceAll(conf, NginxListen, hostPort(port))
		if err := os.WriteFile(confPath, []byte(nginxConfig(dir, logPath, body)), 0o644); err != nil {
			tb.Fatalf("testserver: %v", err)
		}
		return &process{
			name:    "nginx",
			path:    path,
			args:    []string{"-p", dir + "/", "-c", confPath, "-e", logPath, "-g", "daemon off;"},
			dir:     dir,
			logPath: filepath.Join(dir, "stderr.log"),
			logs:    []string{logPath},
		}
	})
	return &NginxServer{server: srv, conf: confPath}
}

// nginxConfig wraps the caller's http block body in a complete configuration
// whose every writable path is inside dir.
func nginxConfig(dir, errorLog, httpBody string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, `master_process off;
worker_processes 1;
pid %s;
error_log %s notice;
events { worker_connections 512; }
http {
	access_log off;
	client_body_temp_path %s;
	proxy_temp_path %s;
	fastcgi_temp_path %s;
	uwsgi_temp_path %s;
	scgi_temp_path %s;
%s
}
`,
		strconv.Quote(filepath.Join(dir, "nginx.pid")),
		strconv.Quote(errorLog),
		strconv.Quote(filepath.Join(dir, "client_body_temp")),
		strconv.Quote(filepath.Join(dir, "proxy_temp")),
		strconv.Quote(filepath.Join(dir, "fastcgi_temp")),
		strconv.Quote(filepath.Join(dir, "uwsgi_temp")),
		strconv.Quote(filepath.Join(dir, "scgi_temp")),
		httpBody)
	return b.String()
}

// Addr returns the address nginx listens on, "127.0.0.1:port". It does not
// change across Stop and Start.
func (s *NginxServer) Addr() string { return s.addr }

// ConfigPath returns the path of the generated nginx.conf, for failure
// messages and debugging.
func (s *NginxServer) ConfigPath() string { return s.conf }

// Stop shuts nginx down with SIGTERM (SIGKILL after a timeout) and waits for
// it to exit. Stopping a stopped server does nothing.
func (s *NginxServer) Stop() {
	s.tb.Helper()
	s.shutdown(syscall.SIGTERM)
}

// Start restarts a stopped nginx with the same configuration and address.
func (s *NginxServer) Start() {
	s.tb.Helper()
	s.restart()
}

// tcpConnect is the readiness check: nginx accepts TCP connections once it
// has bound its listeners, and it binds them all before accepting any.
func tcpConnect(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	return c.Close()
}
