package memcachestore

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// serverStats returns memcached's general statistics.
func serverStats(t *testing.T, addr string) map[string]string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		t.Fatal(err)
	}
	stats := map[string]string{}
	r := bufio.NewScanner(c)
	for r.Scan() {
		f := strings.Fields(r.Text())
		if len(f) == 1 && f[0] == "END" {
			return stats
		}
		if len(f) == 3 && f[0] == "STAT" {
			stats[f[1]] = f[2]
		}
	}
	t.Fatalf("stats: %v", r.Err())
	return nil
}
