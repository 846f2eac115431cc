package session

// End marks the end of the request: call it once the handler has returned
// and the session was saved (the middleware does). A change made after End,
// by a goroutine the handler started or by a handler that
// http.TimeoutHandler abandoned, is not saved: nothing would commit it, and
// the client may have been told the request failed. Rather than vanish
// silently, the first such change of a session is logged as dropped and
// reported to the Observer as [EventDropped].
//
// A handler whose goroutines change the session must wait for them before it
// returns; work that must outlive the request should change the session in a
// later request, or go through the Manager ([Manager.DestroyUser] and the
// like).
//
// A change made after the last commit but before End (a goroutine of the
// handler that ran while the middleware saved the session) is not saved
// either, and End reports it the same way. A commit that failed has already
// reported what it did not save, in its error.
func (s *Session) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	if s.failed || !(s.dirty() || s.rotate || len(s.destroy) > 0) {
		return
	}
	// The session cannot tell which of the two it was.
	s.report("not saved: the session changed after its last save (the handler panicked, or a goroutine of it was still running when it returned)",
		"changed after the last save")
}

// changedAfterEnd reports a change made after End. s.mu is held.
func (s *Session) changedAfterEnd() {
	s.report("changed after the request ended (wait for goroutines before the handler returns)", "changed after the request ended")
}

// report logs and observes, once per session, changes that End found no
// commit for. s.mu is held.
func (s *Session) report(why, reason string) {
	if s.lateLogged || s.m == nil {
		return
	}
	s.lateLogged = true
	s.m.logDropped(why, s.id, 1)
	s.m.event(s.ctx, EventData{Kind: EventDropped, ID: s.id, Reason: reason})
}
