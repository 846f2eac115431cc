package routers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// Gin returns a gin engine whose every route has a session. Gin's own
// middleware chain runs inside: middleware.Sessions wraps the engine as an
// http.Handler, so the session's commit happens before gin writes the
// response headers, as it must.
func Gin(m *session.Manager) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/visit", func(c *gin.Context) {
		s := session.From(c.Request.Context())
		n, _ := session.Get[int](s, "visits")
		s.Set("visits", n+1)
		c.JSON(http.StatusOK, gin.H{"visits": n + 1})
	})
	r.POST("/login", func(c *gin.Context) {
		s := session.From(c.Request.Context())
		s.SetUserID(c.PostForm("user"))
		s.Rotate()
		c.String(http.StatusOK, "welcome %s", c.PostForm("user"))
	})
	r.GET("/whoami", func(c *gin.Context) {
		c.String(http.StatusOK, session.From(c.Request.Context()).UserID())
	})
	return middleware.Sessions(m)(r)
}
