package session

// ForgetDetachedSites empties the set of places already reported by From, so
// a test of the report can run more than once in a process (-count).
func ForgetDetachedSites() {
	detachedSites.Lock()
	defer detachedSites.Unlock()
	clear(detachedSites.seen)
}
