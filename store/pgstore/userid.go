package pgstore

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tether-go/tether/store"
)

// User ids are arbitrary strings to the store contract, and other backends
// keep any bytes; Postgres text holds only valid UTF-8 without NUL. A user id
// that text cannot hold is therefore stored escaped, so that it round-trips
// and UserSessions and DeleteUser find it, instead of failing the write with
// an encoding error that would look like an outage:
//
//   - a user id that is valid text and does not begin with byte 0x01 is
//     stored as it is (every user id a sane application uses);
//   - any other is stored as byte 0x01 followed by the hex of its bytes.
//
// The two forms cannot meet: a stored value begins with 0x01 exactly when it
// is escaped, so distinct user ids stay distinct, and the index and its
// queries work on the stored form. The raw length of an escaped user id
// ((stored length - 1) / 2) is what the size limit counts.
const userIDEscape = "\x01"

// MaxUserIDLen is the longest user id, in bytes, the store accepts. The user
// index is a btree, whose entries Postgres limits to about 2.7 KB: a longer
// user id would make the write fail like an outage. At most 1024 bytes, an
// escaped one (2049 bytes stored) still fits. A commit that sets a longer
// one is refused with an error matching [store.ErrTooLarge] and changes
// nothing; UserSessions and DeleteUser of one find nothing.
const MaxUserIDLen = 1024

// checkUserID refuses a user id the index cannot hold.
func checkUserID(u string) error {
	if len(u) > MaxUserIDLen {
		return fmt.Errorf("pgstore: user id of %d bytes, longer than the %d Postgres can index: %w", len(u), MaxUserIDLen, store.ErrTooLarge)
	}
	return nil
}

// encodeUserID returns the stored form of a user id ("" stays "": no user).
func encodeUserID(u string) string {
	if validText(u) && !strings.HasPrefix(u, userIDEscape) {
		return u
	}
	return userIDEscape + hex.EncodeToString([]byte(u))
}

// decodeUserID reverses encodeUserID. A stored value that begins with the
// escape byte but is not valid hex was not written by this store: it is
// returned as it is.
func decodeUserID(stored string) string {
	rest, ok := strings.CutPrefix(stored, userIDEscape)
	if !ok {
		return stored
	}
	b, err := hex.DecodeString(rest)
	if err != nil {
		return stored
	}
	return string(b)
}
