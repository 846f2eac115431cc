package memstore

// SetAfterIDs makes UserSessions call fn after it read the user index and
// before it reads the records (storetest.WithDuringUserSessions). Set it
// before the store is used by more than one goroutine.
func SetAfterIDs(s *Store, fn func()) { s.afterIDs = fn }
