package session_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

type Cart struct {
	Items []string `json:"items"`
}

// A handler reads and writes typed values; the middleware loads the session
// on first use and saves the changes before the response goes out.
func Example() {
	m, err := session.New() // the embedded memory store
	if err != nil {
		panic(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		cart, _ := session.Get[Cart](s, "cart")
		cart.Items = append(cart.Items, r.FormValue("item"))
		s.Set("cart", cart)
		fmt.Fprintf(w, "%d items", len(cart.Items))
	})
	h := middleware.Sessions(m)(mux)

	var cookie *http.Cookie
	for _, item := range []string{"apple", "pear"} {
		req := httptest.NewRequest("POST", "/add?item="+item, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if cs := rec.Result().Cookies(); len(cs) > 0 {
			cookie = cs[0]
		}
		fmt.Println(rec.Body.String())
	}
	// Output:
	// 1 items
	// 2 items
}

// Rotate on login: the session keeps its data under a new token, and the old
// token dies at once, so a token planted before login (session fixation) is
// useless afterwards.
func ExampleSession_Rotate() {
	m, _ := session.New()
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		switch r.URL.Path {
		case "/visit":
			s.Set("theme", "dark")
		case "/login":
			s.Rotate()
			s.SetUserID("alice")
		case "/whoami":
			theme, _ := session.Get[string](s, "theme")
			fmt.Fprintf(w, "%s prefers %s", s.UserID(), theme)
		}
	}))
	do := func(path string, c *http.Cookie) (*http.Cookie, string) {
		req := httptest.NewRequest("GET", path, nil)
		if c != nil {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for _, nc := range rec.Result().Cookies() {
			c = nc
		}
		return c, rec.Body.String()
	}
	before, _ := do("/visit", nil)
	after, _ := do("/login", before)
	_, body := do("/whoami", after)
	fmt.Println("token changed:", before.Value != after.Value)
	fmt.Println(body)
	// Output:
	// token changed: true
	// alice prefers dark
}

// Flash messages survive exactly one read.
func ExampleSession_AddFlash() {
	m, _ := session.New()
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		if r.URL.Path == "/save" {
			s.AddFlash("saved")
			return
		}
		fmt.Fprint(w, strings.Join(s.Flashes(), ","))
	}))
	var c *http.Cookie
	for _, path := range []string{"/save", "/show", "/show"} {
		req := httptest.NewRequest("GET", path, nil)
		if c != nil {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if cs := rec.Result().Cookies(); len(cs) > 0 {
			c = cs[0]
		}
		fmt.Printf("%s: %q\n", path, rec.Body.String())
	}
	// Output:
	// /save: ""
	// /show: "saved"
	// /show: ""
}

// Outside the middleware, From returns a detached session rather than nil:
// it works in memory, and saving it reports the missing middleware.
func ExampleFrom() {
	s := session.From(httptest.NewRequest("GET", "/", nil).Context())
	s.Set("k", 1)
	fmt.Println(s.Commit(http.Header{}))
	// Output:
	// session: no manager (is the middleware installed?)
}

// Flashes with a level, read and cleared in one call.
func ExampleSession_FlashMessages() {
	m, _ := session.New()
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		if r.URL.Path == "/save" {
			s.AddFlashLevel("success", "profile saved")
			s.AddFlash("plain note")
			s.AddFlashLevel("error", "avatar too large")
			return
		}
		for _, f := range s.FlashMessages() {
			fmt.Fprintf(w, "[%s] %s\n", f.Level, f.Message)
		}
	}))
	var c *http.Cookie
	for _, path := range []string{"/save", "/show", "/show"} {
		req := httptest.NewRequest("GET", path, nil)
		if c != nil {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if cs := rec.Result().Cookies(); len(cs) > 0 {
			c = cs[0]
		}
		fmt.Printf("%s: %q\n", path, rec.Body.String())
	}
	// Output:
	// /save: ""
	// /show: "[success] profile saved\n[] plain note\n[error] avatar too large\n"
	// /show: ""
}

// A login records what the user will recognise the device by; a "your
// devices" page lists every session of the user with those attributes,
// without loading any session's values, and marks the current one.
func ExampleSession_SetAttrs() {
	m, _ := session.New()
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		switch r.URL.Path {
		case "/login":
			s.Rotate()
			s.SetUserID("alice")
			s.SetAttrs(map[string]string{
				"device": r.FormValue("device"),
				"ua":     r.UserAgent(), // cleaned and cut, never refused
			})
		case "/devices":
			devices, err := m.UserSessions(r.Context(), s.UserID())
			if err != nil {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			for _, d := range devices {
				mark := ""
				if d.ID == s.ID() {
					mark = " (this device)"
				}
				fmt.Fprintf(w, "%s, %s%s\n", d.Attrs["device"], d.Attrs["ua"], mark)
			}
		}
	}))
	do := func(path, ua string, c *http.Cookie) (*http.Cookie, string) {
		req := httptest.NewRequest("POST", path, nil)
		req.Header.Set("User-Agent", ua)
		if c != nil {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for _, nc := range rec.Result().Cookies() {
			c = nc
		}
		return c, rec.Body.String()
	}
	do("/login?device=Phone", "Mobile Safari", nil)
	laptop, _ := do("/login?device=Laptop", "Firefox", nil)
	_, body := do("/devices", "Firefox", laptop)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// Laptop, Firefox (this device)
	// Phone, Mobile Safari
}
