package session

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckUserID(t *testing.T) {
	for id, ok := range map[string]bool{
		"":                                    true, // leaves the index
		"alice":                               true,
		"Zoë Ångström":                        true,
		"\uFFFD":                              true, // the replacement character itself is valid UTF-8
		"auth0|5f7c8ec7c33c6c004bbafe82":      true,
		strings.Repeat("é", MaxUserIDLen/2):   true,
		strings.Repeat("é", MaxUserIDLen/2+1): false, // bytes, not characters
		"a\x00":                               false,
		"a\nb":                                false,
		"a\x7f":                               false,
		"a\u0085":                             false, // C1 control
		"\xc3":                                false, // truncated sequence
		"\xed\xa0\x80":                        false, // a surrogate
	} {
		err := checkUserID(id)
		if (err == nil) != ok {
			t.Errorf("checkUserID(%q) = %v, want ok=%v", id, err, ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalidUserID) || strings.Contains(err.Error(), id)) {
			t.Errorf("checkUserID(%q) = %v: want ErrInvalidUserID without the id itself", id, err)
		}
	}
}
