package mysqlstore

// withAfterEnd runs fn in DeleteUser's transaction right after the statement
// that ends the user's sessions (storetest.WithDuringDeleteUser).
func withAfterEnd(fn func()) Option {
	return func(c *config) { c.afterEnd = fn }
}
