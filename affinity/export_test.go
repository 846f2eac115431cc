package affinity

import (
	"net/http"
	"time"
)

// WithClock replaces time.Now for backoff and hold decisions.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { c.now = now; return nil }
}

// WithGetenv replaces os.Getenv for finding POD_IP.
func WithGetenv(getenv func(string) string) Option {
	return func(c *config) error { c.getenv = getenv; return nil }
}

// Score exposes the rendezvous weight.
var Score = score

// ClientIPKey exposes the client address key for table tests.
var ClientIPKey = clientIP

// ValidRouteKey exposes the cookie value check.
var ValidRouteKey = validRouteKey

// KeyOf exposes the routing key of a request.
func (rt *Router) KeyOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	key, ok, _ := rt.keyOf(w, r)
	return key, ok
}
