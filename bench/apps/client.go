package apps

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Jar is the session cookie a client holds: the value of the last
// Set-Cookie for CookieName it received (an expired one clears it), as a
// browser keeps it. The zero Jar holds no cookie. It is not safe for
// concurrent use.
type Jar struct {
	Cookie string // "session=..." for a Cookie header, or ""
}

// Update applies a response's Set-Cookie headers, in order.
func (j *Jar) Update(h http.Header) {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name != CookieName {
			continue
		}
		if c.MaxAge < 0 || c.Value == "" {
			j.Cookie = ""
			continue
		}
		j.Cookie = CookieName + "=" + c.Value
	}
}

// Do serves one in-process request with the jar's cookie and updates the
// jar from the response. It returns the status and body.
func (j *Jar) Do(h http.Handler, path string) (int, string) {
	req := httptest.NewRequest("GET", path, nil)
	if j.Cookie != "" {
		req.Header.Set("Cookie", j.Cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	j.Update(rec.Header())
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

// Seed starts a session on h in process and returns its cookie header value.
func Seed(h http.Handler) (string, error) {
	var j Jar
	code, body := j.Do(h, "/seed")
	if code != http.StatusOK || j.Cookie == "" {
		return "", fmt.Errorf("apps: /seed answered %d %q with cookie %q", code, strings.TrimSpace(body), j.Cookie)
	}
	return j.Cookie, nil
}
