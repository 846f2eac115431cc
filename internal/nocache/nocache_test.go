package nocache_test

import (
	"net/http"
	"testing"

	"github.com/tether-go/tether/internal/nocache"
)

func TestSet(t *testing.T) {
	h := http.Header{}
	h.Set("Cache-Control", "public, max-age=3600")
	for _, k := range []string{"CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Surrogate-Control"} {
		h.Set(k, "max-age=3600")
	}
	h.Set("Vary", "Cookie")
	nocache.Set(h)
	want := http.Header{"Cache-Control": {"no-store"}, "Vary": {"Cookie"}}
	if len(h) != len(want) || h.Get("Cache-Control") != "no-store" || h.Get("Vary") != "Cookie" {
		t.Fatalf("header %v, want %v", h, want)
	}
}
