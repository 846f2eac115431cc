package routers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// Echo returns an echo server whose every route has a session, wrapped the
// same way as [Gin]. (echo.WrapMiddleware(middleware.Sessions(m)) works too,
// inside echo's chain.)
func Echo(m *session.Manager) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.GET("/visit", func(c echo.Context) error {
		s := session.From(c.Request().Context())
		n, _ := session.Get[int](s, "visits")
		s.Set("visits", n+1)
		return c.JSON(http.StatusOK, map[string]int{"visits": n + 1})
	})
	e.POST("/login", func(c echo.Context) error {
		s := session.From(c.Request().Context())
		s.SetUserID(c.FormValue("user"))
		s.Rotate()
		return c.String(http.StatusOK, "welcome "+c.FormValue("user"))
	})
	e.GET("/whoami", func(c echo.Context) error {
		return c.String(http.StatusOK, session.From(c.Request().Context()).UserID())
	})
	return middleware.Sessions(m)(e)
}
