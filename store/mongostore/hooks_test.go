package mongostore

// withBetweenEnds runs fn in DeleteUser between its two updateManys
// (storetest.WithDuringDeleteUser, and the interleavings of this package's
// DeleteUser tests).
func withBetweenEnds(fn func()) Option {
	return func(c *config) { c.betweenEnds = fn }
}
