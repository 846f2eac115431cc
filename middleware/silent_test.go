package middleware_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

// A request cut by its own deadline (http.TimeoutHandler outside Sessions)
// is not a store fault: counted canceled, not logged as an error.
func TestRequestDeadlineIsNotAStoreFault(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, session.WithObserver(rec))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	rec.take()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	req := newRequest("GET", "/get?k=a").WithContext(ctx)
	req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: c.cookie})
	e.serve(req)
	calls, _ := rec.take()
	if !slices.Equal(calls, []string{"load:canceled:found=false"}) {
		t.Errorf("calls %q, want one load with outcome canceled", calls)
	}
	if strings.Contains(e.logs.String(), "store call failed") {
		t.Errorf("a request past its own deadline was logged as a store fault: %s", e.logs.String())
	}
}
