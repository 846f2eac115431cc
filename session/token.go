package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"
)

// A token is 32 bytes from crypto/rand, base64url-encoded without padding. It
// is the client's secret; stores see only its SHA-256 (the session ID).
const (
	tokenBytes = 32
	tokenLen   = 43 // base64.RawURLEncoding.EncodedLen(tokenBytes)
)

var tokenEncoding = base64.RawURLEncoding

func newToken() string {
	var b [tokenBytes]byte
	rand.Read(b[:]) // never returns an error; it crashes the program if randomness is unavailable
	return tokenEncoding.EncodeToString(b[:])
}

// validToken reports whether s has the shape of a token: the right length, the
// URL-safe alphabet, and canonical padding bits. Anything else cannot be a
// session and must not cost a store round trip.
func validToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	// 43 characters carry 258 bits; the last character's low 2 bits must be
	// zero for the encoding to be canonical (one token, one spelling).
	last := s[tokenLen-1]
	return base64Value(last)&0b11 == 0
}

func base64Value(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63
}

// validID reports whether id has the shape of tokenID's output.
func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// tokenID is the ID a store keys a session by: the hex SHA-256 of the token.
func tokenID(token string) string {
	// A token fits a buffer on the stack; []byte(token) would allocate
	// one on the heap for every request that uses its session.
	var in [tokenLen]byte
	var sum [sha256.Size]byte
	if len(token) == tokenLen {
		copy(in[:], token)
		sum = sha256.Sum256(in[:])
	} else {
		sum = sha256.Sum256([]byte(token))
	}
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

// Forwarding from a rotated-away token to its successor needs the new token,
// but a store must never hold a usable token. So the tombstone keeps the new
// token sealed with AES-256-GCM under a key derived from the old token: only a
// client presenting the old cookie can open it, and a store dump (which holds
// SHA-256 of the old token, not the token) cannot.
//
// The seal also carries the end of the grace period, so that whoever opens it
// judges the forward by its own clock: a store (or node) whose clock lags
// cannot stretch the grace period, and the tombstone itself may outlive it
// (so that a Move resent after a lost reply still finds it).

var errBadSeal = errors.New("session: tombstone does not open")

func forwardAEAD(oldToken string) cipher.AEAD {
	key := sha256.Sum256([]byte("tether/forward\x00" + oldToken))
	block, _ := aes.NewCipher(key[:]) // a 32-byte key is always valid
	aead, _ := cipher.NewGCM(block)   // GCM over AES always succeeds
	return aead
}

// sealForward seals newToken and the forward's end for the holder of
// oldToken.
func sealForward(oldToken, newToken string, until time.Time) []byte {
	aead := forwardAEAD(oldToken)
	pt := make([]byte, tokenLen+8)
	copy(pt, newToken)
	binary.BigEndian.PutUint64(pt[tokenLen:], uint64(until.UnixMilli()))
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(pt)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, pt, []byte(tokenID(oldToken)))
}

// openForward returns the new token a tombstone forwards oldToken to, and
// the end of the forward (zero for a seal made before ends were sealed,
// which the tombstone's own expiry bounds).
func openForward(oldToken string, sealed []byte) (string, time.Time, error) {
	aead := forwardAEAD(oldToken)
	n := len(sealed) - aead.NonceSize() - aead.Overhead()
	if n != tokenLen && n != tokenLen+8 {
		return "", time.Time{}, errBadSeal
	}
	nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, []byte(tokenID(oldToken)))
	if err != nil || !validToken(string(pt[:tokenLen])) {
		return "", time.Time{}, errBadSeal
	}
	var until time.Time
	if len(pt) == tokenLen+8 {
		until = time.UnixMilli(int64(binary.BigEndian.Uint64(pt[tokenLen:])))
	}
	return string(pt[:tokenLen]), until, nil
}
