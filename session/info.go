package session

import "maps"

// Info returns the request's session's metadata (its ID, when it began, when
// the store last saw it, when it expires), for "your session expires in …",
// and whether the request has a saved session. It loads the session if the
// request has not. The times are as the store holds them; a touch this request
// makes at commit moves LastSeen and Expires on after Info has answered.
func (s *Session) Info() (Info, bool) {
	s.lock()
	defer s.mu.Unlock()
	s.loadLocked()
	if s.base == nil {
		return Info{}, false
	}
	b := s.base
	return Info{ID: s.id, Created: b.Created, LastSeen: b.LastSeen, Expires: b.Expires, Attrs: maps.Clone(s.attrsLocked())}, true
}
