package session

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxUserIDLen is the longest user id, in bytes, that [Session.SetUserID]
// accepts. It holds an e-mail address (at most 254 bytes) and an OpenID
// Connect subject (at most 255 ASCII characters); every record and index
// entry carries the id, so it is bounded like a value key.
const MaxUserIDLen = 256

// CheckUserID returns why [Session.SetUserID] would refuse userID (a
// [*UserIDError]), or nil. Call it on user input before SetUserID to answer
// with your own 400: SetUserID's refusal fails the request's commit, which
// replaces the handler's response with the error handler's 500.
func CheckUserID(userID string) error { return checkUserID(userID) }

// checkUserID returns why userID cannot index a session, or nil. The same
// rule holds for every backend: an id one store would refuse (Postgres text
// holds no NUL nor invalid UTF-8) must not work on another and then break on
// migration, and it must fail as the application's mistake, not as a store
// outage.
func checkUserID(userID string) error {
	if len(userID) > MaxUserIDLen {
		return &UserIDError{Len: len(userID), Reason: fmt.Sprintf("longer than %d bytes", MaxUserIDLen)}
	}
	for i, r := range userID {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(userID[i:]); size == 1 {
				return &UserIDError{Len: len(userID), Reason: fmt.Sprintf("not valid UTF-8 at byte %d", i)}
			}
		}
		if unicode.IsControl(r) {
			return &UserIDError{Len: len(userID), Reason: fmt.Sprintf("control character %U at byte %d", r, i)}
		}
	}
	return nil
}
