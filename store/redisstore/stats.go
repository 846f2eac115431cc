package redisstore

// Stats are counters of what a Store did since it was made, for an operator
// to scrape (see the tetherprom package).
type Stats struct {
	// FastCommits counts the commits the fast path applied: written in Go
	// from the session's Base, behind a check that the stored record was
	// the Base (see store.Change.Base).
	FastCommits int64
	// FastDeclined counts the commits with a Base that Go gave the commit
	// script without trying the fast path: a login (the user index), a
	// record over the fast path's size cap, or one a refusal may end. They
	// cost nothing more than a commit without a Base.
	FastDeclined int64
	// FastConflicts counts the fast path's scripts that found the stored
	// record other than the one they were given (another request wrote in
	// between, or the record's pairs are out of key order) and wrote
	// nothing: each costs a round trip more. The commit is then tried once
	// more on the record the script replied with, and goes to the commit
	// script if that misses too. A steady share of commits here means the
	// fast path costs this workload more than it saves.
	FastConflicts int64
}

// Stats returns the store's counters. It is cheap enough to call on every
// scrape: a few atomic loads.
func (s *Store) Stats() Stats {
	return Stats{
		FastCommits:   s.fast.Load(),
		FastDeclined:  s.fastDeclined.Load(),
		FastConflicts: s.fastConflicts.Load(),
	}
}
