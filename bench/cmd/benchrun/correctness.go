package main

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tether-go/tether/bench/apps"
)

// lostKeysResult is one run of the concurrent-writes check.
type lostKeysResult struct {
	lost, failed int // keys missing at the end; requests that did not answer 200
}

// lostKeys starts a session, sends n concurrent requests with its cookie,
// each setting a distinct key, and counts the keys the session has at the
// end. The client keeps the cookie of the last response it received, as a
// browser does (for a cookie store, that cookie is the session).
func lostKeys(s *server, n int) (lostKeysResult, error) {
	var j apps.Jar
	if code, body, err := get(s, &j, "/seed"); err != nil || code != http.StatusOK {
		return lostKeysResult{}, fmt.Errorf("%s /seed: %d %q %v", s.app, code, body, err)
	}
	start := make(chan struct{})
	var (
		mu     sync.Mutex
		failed int
		wg     sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", s.url(fmt.Sprintf("/set?k=k%03d", i)), nil)
			req.Header.Set("Cookie", j.Cookie)
			<-start
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed++
			}
			j.Update(resp.Header)
		})
	}
	time.Sleep(20 * time.Millisecond) // let every goroutine reach the barrier
	close(start)
	wg.Wait()
	code, body, err := get(s, &j, "/keys?prefix=k")
	if err != nil || code != http.StatusOK {
		return lostKeysResult{}, fmt.Errorf("%s /keys: %d %q %v", s.app, code, body, err)
	}
	have, err := strconv.Atoi(body)
	if err != nil {
		return lostKeysResult{}, fmt.Errorf("%s /keys: %q", s.app, body)
	}
	return lostKeysResult{lost: n - have, failed: failed}, nil
}

// rotationResult is one run of the old-cookie check.
type rotationResult struct {
	during, after   int // old-cookie reads that found no session
	nDuring, nAfter int
	newWorks        bool // the rotated cookie reads the session
	// oldAlive: a read with the old cookie, once everything above is done,
	// still finds the session. After a login that is the session-fixation
	// hole rotation exists to close.
	oldAlive bool
}

// rotationLogouts starts a session and then sends, all with its original
// cookie: one rotating request together with nDuring-1 concurrent reads (other
// tabs, in-flight XHRs), then nAfter reads once the rotation is done (a tab
// that has not seen the new cookie yet). A read that does not see the
// session's name is a logout.
//
// rotate is the rotating request: "/login" (explicit rotation), or "" for
// periodic rotation, where the app rotates by itself once wait has passed
// and every request is a read.
func rotationLogouts(s *server, rotate string, wait time.Duration, nDuring, nAfter int) (rotationResult, error) {
	res := rotationResult{nDuring: nDuring, nAfter: nAfter}
	var j apps.Jar
	if code, body, err := get(s, &j, "/seed"); err != nil || code != http.StatusOK {
		return res, fmt.Errorf("%s /seed: %d %q %v", s.app, code, body, err)
	}
	old := j.Cookie
	time.Sleep(wait)

	var (
		mu      sync.Mutex
		newJar  apps.Jar
		wg      sync.WaitGroup
		reqErr  error
		start   = make(chan struct{})
		readers = nDuring
	)
	if rotate != "" {
		readers--
		wg.Go(func() {
			<-start
			jj := apps.Jar{Cookie: old}
			code, _, err := get(s, &jj, rotate)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || code != http.StatusOK {
				reqErr = fmt.Errorf("%s %s: %d %v", s.app, rotate, code, err)
			}
			newJar = jj
		})
	}
	read := func(count *int) {
		jj := apps.Jar{Cookie: old}
		code, body, err := get(s, &jj, "/read")
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			reqErr = err
			return
		}
		if code != http.StatusOK || body != "alice" {
			*count++
		}
		if rotate == "" && jj.Cookie != old && jj.Cookie != "" {
			newJar = jj
		}
	}
	for range readers {
		wg.Go(func() { <-start; read(&res.during) })
	}
	time.Sleep(20 * time.Millisecond)
	close(start)
	wg.Wait()
	for range nAfter {
		wg.Go(func() { read(&res.after) })
	}
	wg.Wait()
	if reqErr != nil {
		return res, reqErr
	}
	if newJar.Cookie != "" {
		_, body, err := get(s, &newJar, "/read")
		res.newWorks = err == nil && body == "alice"
	}
	time.Sleep(50 * time.Millisecond)
	jj := apps.Jar{Cookie: old}
	_, body, err := get(s, &jj, "/read")
	if err != nil {
		return res, err
	}
	res.oldAlive = body == "alice"
	return res, nil
}
