package session_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/session/sessiontest"
)

// "Log out everywhere" while the user's devices keep rotating (a route that
// calls Rotate, hit in a loop by whoever holds a stolen cookie): once
// DestroyUser returns, no device is logged in, whatever its rotations did
// meanwhile. Each device sends the cookie its last response set, as a
// browser does. Before memstore's DeleteUser held its shards, a device that
// rotated during DeleteUser and again during DestroyUser's check of
// UserSessions survived it in 4 runs of 4.
func TestDestroyUserDuringRotations(t *testing.T) {
	m := newManager(t)
	const devices, rounds = 8, 30
	for round := range rounds {
		cookies := make([]*http.Cookie, devices)
		for d := range cookies {
			cookies[d] = sessiontest.Login(t, m, "ann", map[string]any{"device": d})
		}
		var rotations atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for d := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					s := begin(t, m, cookies[d])
					if s.UserID() != "ann" {
						return // logged out
					}
					s.Rotate()
					c, err := commit(t, s)
					if err != nil || c == nil || c.MaxAge < 0 {
						return
					}
					cookies[d] = c
					rotations.Add(1)
				}
			}()
		}
		for deadline := time.Now().Add(5 * time.Second); rotations.Load() < 2*devices && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if _, err := m.DestroyUser(t.Context(), "ann"); err != nil {
			t.Fatalf("round %d: DestroyUser: %v", round, err)
		}
		time.Sleep(5 * time.Millisecond)
		close(stop)
		wg.Wait()
		for d, c := range cookies {
			if got := sessiontest.Open(m, c).UserID(); got != "" {
				t.Errorf("round %d: device %d still logged in as %q after DestroyUser (%d rotations)", round, d, got, rotations.Load())
			}
		}
		if infos, err := m.UserSessions(t.Context(), "ann"); len(infos) != 0 || err != nil {
			t.Errorf("round %d: UserSessions after DestroyUser = %d, %v; want none", round, len(infos), err)
		}
	}
}
