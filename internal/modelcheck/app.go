package modelcheck

import (
	"encoding/json"
	"net/http"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// loginKey holds a login's marker: a value unique to that login, so a read
// that sees it proves it reached the logged-in session.
const loginKey = "login"

// view is what the read, rw and login routes answer: whether the request
// found a live session, and every value in it.
type view struct {
	Found  bool              `json:"found"`
	Values map[string]string `json:"values"`
}

// handler serves the checker's routes under the real middleware:
//
//	/read              every value of the session
//	/write?k=K&v=V     sets K=V without reading (a blind write)
//	/rw?k=K&v=V        reads every value, then sets K=V
//	/login?u=U&v=V     reads, then Rotate, SetUserID(U) and sets login=V
//	/logout            Destroy, without loading the session
//	/logout?look=1     loads the session first and answers whether it found one
func handler(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		writeView(w, look(session.From(r.Context())))
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		session.From(r.Context()).Set(q.Get("k"), q.Get("v"))
	})
	mux.HandleFunc("/rw", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		v := look(s)
		q := r.URL.Query()
		s.Set(q.Get("k"), q.Get("v"))
		writeView(w, v)
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		v := look(s)
		q := r.URL.Query()
		s.Rotate()
		s.SetUserID(q.Get("u"))
		s.Set(loginKey, q.Get("v"))
		writeView(w, v)
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		if r.URL.Query().Get("look") == "" {
			s.Destroy()
			return
		}
		v := view{Found: s.ID() != ""}
		s.Destroy()
		writeView(w, v)
	})
	return middleware.Sessions(m)(mux)
}

// look loads the session and copies its values. ID is "" when the cookie
// named no live session.
func look(s *session.Session) view {
	v := view{Found: s.ID() != "", Values: map[string]string{}}
	for _, k := range s.Keys() {
		if val, ok := session.Get[string](s, k); ok {
			v.Values[k] = val
		}
	}
	return v
}

func writeView(w http.ResponseWriter, v view) {
	// The middleware commits before the first byte of the body: a failed
	// commit replaces this response with its error, so a 200 carrying
	// this body means the request's changes were saved.
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
