package apps

import (
	"context"
	"net/http"
)

// NoneContext is the no-library app behind the least middleware a session
// library can be on a route that never uses the session (issue 20): it puts
// one value in every request's context, which takes a copy of the request
// (net/http has no other way to hand a handler a per-request value), and
// wraps the writer, which a library that sets its cookie just before the
// headers go out must. It stores nothing and runs no session code. On /none
// it is paired with the no-library app like the session apps, so that their
// ratio can be read against what no middleware of this kind can beat.
var NoneContext = Info{Name: "none-context", Library: "none", Store: "-", Rotation: "-", Lifetimes: "-"}

// Controls are the apps that run on /none only, next to the no-library app,
// to read the session apps' ratios against.
var Controls = []Info{NoneControl, NoneContext}

// floorKey is the context key of contextFloor's value.
type floorKey struct{}

// contextFloor is NoneContext's middleware: a context value and a writer
// wrapper per request, allocated as net/http and package context allocate
// them for any middleware that does not bundle them as Tether does.
func contextFloor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fw := &floorWriter{ResponseWriter: w}
		next.ServeHTTP(fw, r.WithContext(context.WithValue(r.Context(), floorKey{}, fw)))
	})
}

// floorWriter passes every call through: the wrapper a session middleware
// needs to act before the headers go out, doing nothing there.
type floorWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *floorWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *floorWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *floorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
