package hybridstore

// WithoutEchoSkip makes every notification evict, even that of a write this
// store applied itself: the simple scheme, for the tests and the benchmark
// that measure what skipping echoes saves.
func WithoutEchoSkip() Option {
	return func(c *config) { c.echoSkip = false }
}

// Waiters returns how many misses wait for the load of id in flight, -1 if
// none is.
func Waiters(s *Store, id string) int {
	st := s.stripe(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	if f := st.flights[id]; f != nil {
		return f.waiters
	}
	return -1
}
