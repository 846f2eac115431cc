package sessiontest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/session/sessiontest"
)

// An application's handler that greets its logged-in user and counts visits.
func greet(w http.ResponseWriter, r *http.Request) {
	s := session.From(r.Context())
	if s.UserID() == "" {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	n, _ := session.Get[int](s, "visits")
	s.Set("visits", n+1)
	fmt.Fprintf(w, "hello %s", s.UserID())
}

func Example() {
	t := &testing.T{} // in a real test, the test's own *testing.T
	m, _ := session.New()
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(greet))

	// Logged in, without going through the login route.
	cookie := sessiontest.Login(t, m, "alice", map[string]any{"visits": 41})
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	fmt.Println(string(body))

	// What the request left in the session.
	s := sessiontest.Open(m, cookie)
	visits, _ := session.Get[int](s, "visits")
	fmt.Println("visits:", visits)
	// Output:
	// hello alice
	// visits: 42
}
