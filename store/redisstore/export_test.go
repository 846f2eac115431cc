package redisstore

import (
	"encoding/binary"
	"time"
)

// WithNotifyHeartbeat shortens Notify's heartbeat interval, for tests of
// subscriptions that fail silently.
func WithNotifyHeartbeat(d time.Duration) Option { return WithHeartbeat(d) }

// WithPolicyRecheck sets how often the policy check runs again.
func WithPolicyRecheck(d time.Duration) Option {
	return func(c *config) { c.policyRecheck = d }
}

// WithBeforeUnindex makes the store call hook after a write took a session
// away from a user and before it removes the session's index entry, so a
// test can run a racing commit in that window.
func WithBeforeUnindex(hook func(id string)) Option {
	return func(c *config) { c.beforeUnindex = hook }
}

// WithAfterIndex makes the store call hook after a commit indexed a session
// under its user and before the commit's script writes the session, so a
// test can list or prune the index in that window.
func WithAfterIndex(hook func(id string)) Option {
	return func(c *config) { c.afterIndex = hook }
}

// WithAfterEntries makes UserSessions call hook after it read the user's
// index and before it reads the sessions, so a test can rotate a session
// in that window.
func WithAfterEntries(hook func()) Option {
	return func(c *config) { c.afterEntries = hook }
}

// WithClock sets the clock the store reads where it judges by this node's
// time, for tests of a node whose clock is skewed.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// DeleteUserScriptHash is the SHA1 of the script DeleteUser runs per
// session: a marker for a proxy that loses the reply to a DeleteUser.
func DeleteUserScriptHash() string { return deleteIfUserScript.hash.(string) }

// MoveScriptHash is the SHA1 of the move script, as EVALSHA sends it: a
// marker for a proxy that loses the reply to a Move.
func MoveScriptHash() string { return moveScript.hash.(string) }

// KeyPrefix is the store's key prefix, for a test's second node on the same
// keys.
func (s *Store) KeyPrefix() string { return s.cfg.prefix }

// WithAttrsOf returns the session string raw with its attributes' encoding
// replaced by attrs (which may be corrupt), for tests of what the store
// makes of a corrupt one.
func WithAttrsOf(raw, attrs string) string {
	p, err := parse(raw)
	if err != nil || p.tombstone {
		panic("WithAttrsOf: not a record")
	}
	var b []byte
	b = append(b, raw[:headerLen]...)
	for _, s := range []string{p.user, attrs} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return string(b) + p.values
}

// WithoutFastCommit makes the store ignore Change.Base.
func WithoutFastCommit() Option { return func(c *config) { c.noFastCommit = true } }

// FastCommits returns how many commits the fast path applied and how many
// it handed to the commit script, declined or after a conflict.
func (s *Store) FastCommits() (applied, missed int64) {
	st := s.Stats()
	return st.FastCommits, st.FastDeclined + st.FastConflicts
}

// FastCommitScriptHash is the SHA1 of the fast commit script: a marker for a
// proxy that loses the reply to a fast commit.
func FastCommitScriptHash() string { return fastCommitScript.hash.(string) }

// WithFastCommitMax sets the largest record, in bytes of its string, that
// the fast path writes.
func WithFastCommitMax(n int) Option { return func(c *config) { c.fastCommitMax = n } }

// WithBeforeFastRetry runs hook between a fast commit's mismatch and its
// second try on the record the mismatch replied with.
func WithBeforeFastRetry(hook func(id string)) Option {
	return func(c *config) { c.beforeFastRetry = hook }
}

// WithVersionStep makes the store raise versions by step() instead of a
// random amount: for tests that compare two stores' versions.
func WithVersionStep(step func() uint64) Option {
	return func(c *config) { c.versionStep = step }
}
