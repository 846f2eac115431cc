// Package routers shows Tether under gin and echo. Both wrap net/http, so the
// one adapter, middleware.Sessions, serves them: gin and echo handlers get the
// session from the request's context as any net/http handler does. Chi and the
// standard library's ServeMux take middleware.Sessions as it is.
//
// This is a module of its own so that neither router enters the go.mod of an
// application that imports Tether.
package routers
