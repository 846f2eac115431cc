package memcachestore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/tether-go/tether/internal/recordcodec"
)

// header is the part of an encoded record that [Store.Version] needs.
type header struct {
	version uint64
	expires time.Time
}

// Bits of the flags byte of recordcodec's format versions 1 and 2, as its
// package documentation specifies them (version 2 differs from 1 only after
// the times: it adds the attributes). FuzzPeekHeader checks that peekHeader
// agrees with recordcodec.Unmarshal on every input Unmarshal accepts.
const (
	v1ZeroCreated  = 1 << 1
	v1ZeroLastSeen = 1 << 2
	v1ZeroExpires  = 1 << 3
	v1FlagsKnown   = 0x0f
)

var errBadHeader = errors.New("bad record header")

// peekHeader reads the version and expiry of an encoded record without
// decoding its values: the record's first bytes in recordcodec's format 1 or
// 2. Anything else (another format version) is decoded in full.
func peekHeader(b []byte) (header, error) {
	if len(b) < 2 || (b[0] != recordcodec.FormatV1 && b[0] != 2) || recordcodec.FormatVersion != 2 || b[1]&^v1FlagsKnown != 0 {
		rec, err := recordcodec.Unmarshal(b)
		if err != nil {
			return header{}, err
		}
		return header{version: rec.Version, expires: rec.Expires}, nil
	}
	flags := b[1]
	b = b[2:]
	version, n := binary.Uvarint(b)
	if n <= 0 {
		return header{}, errBadHeader
	}
	b = b[n:]
	var expires time.Time
	for _, zero := range []byte{v1ZeroCreated, v1ZeroLastSeen, v1ZeroExpires} {
		if flags&zero != 0 {
			continue
		}
		ns, n := binary.Varint(b)
		if n <= 0 {
			return header{}, errBadHeader
		}
		b = b[n:]
		if zero == v1ZeroExpires {
			expires = time.Unix(0, ns)
		}
	}
	return header{version: version, expires: expires}, nil
}
