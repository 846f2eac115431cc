package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/store"
)

// Load implements [store.Store] with one GET. A key that exists is live:
// Redis removes it at its expiry, by the server's clock. A hash of the
// previous layout (WRONGTYPE) is read with HGETALL.
func (s *Store) Load(ctx context.Context, id string) (*store.Record, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	key := s.sessionKey(id)
	b, err := s.client.Get(ctx, key).Result()
	var rec *store.Record
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case isWrongType(err):
		fields, err := s.client.HGetAll(ctx, key).Result()
		if isWrongType(err) {
			// A write turned the hash into a string since the GET.
			if b, err = s.client.Get(ctx, key).Result(); errors.Is(err, redis.Nil) {
				return nil, nil
			} else if err != nil {
				return nil, s.wrap(ctx, "load", err)
			}
			if rec, err = decodeString(b); err != nil {
				return nil, fmt.Errorf("redisstore: load %.12s: %w", id, err)
			}
			return rec, nil
		}
		if err != nil {
			return nil, s.wrap(ctx, "load", err)
		}
		if len(fields) == 0 {
			return nil, nil
		}
		rec, err = decodeHash(fields)
		if err != nil {
			return nil, fmt.Errorf("redisstore: load %.12s: %w", id, err)
		}
	case err != nil:
		return nil, s.wrap(ctx, "load", err)
	default:
		if rec, err = decodeString(b); err != nil {
			return nil, fmt.Errorf("redisstore: load %.12s: %w", id, err)
		}
	}
	return rec, nil
}

// Version implements [store.Versioner] with one GETRANGE of the header's
// version (HGET of a hash of the previous layout).
func (s *Store) Version(ctx context.Context, id string) (uint64, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	key := s.sessionKey(id)
	v, err := s.client.GetRange(ctx, key, offVersion, offVersion+7).Result()
	if isWrongType(err) {
		n, converted, herr := s.hashVersion(ctx, id)
		if !converted {
			return n, herr
		}
		// A write turned the hash into a string since the GETRANGE.
		v, err = s.client.GetRange(ctx, key, offVersion, offVersion+7).Result()
	}
	if err != nil {
		return 0, s.wrap(ctx, "version", err)
	}
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return beUint64(v), nil
	}
	return 0, fmt.Errorf("redisstore: version %.12s: %w: %d bytes", id, ErrCorrupt, len(v))
}

func (s *Store) hashVersion(ctx context.Context, id string) (uint64, bool, error) {
	v, err := s.client.HGet(ctx, s.sessionKey(id), "m:v").Result()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if isWrongType(err) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, s.wrap(ctx, "version", err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("redisstore: version %.12s: %w: m:v %q", id, ErrCorrupt, v)
	}
	return n, false, nil
}

// isWrongType reports whether err is Redis' WRONGTYPE: the key holds a hash
// of the previous layout.
func isWrongType(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "WRONGTYPE")
}

// decodeHash builds a record from the fields of a session hash of the
// previous layout, where each value was a field "v:"+key and each piece of
// metadata a field "m:"+name. Every field
// is untrusted: a malformed one is an error matching ErrCorrupt, never a
// panic, and an unknown one is ignored (a later version may add fields).
func decodeHash(fields map[string]string) (*store.Record, error) {
	rec := &store.Record{}
	var (
		to, sealed     string
		moved, version bool
		err            error
	)
	var values store.ValuesBuilder
	values.Grow(len(fields))
	for f, v := range fields {
		if key, ok := strings.CutPrefix(f, "v:"); ok {
			values.Add(key, bytesOf(v)) // copied by values.Values
			continue
		}
		switch f {
		case "m:v":
			rec.Version, err = strconv.ParseUint(v, 10, 64)
			version = err == nil
		case "m:u":
			rec.UserID = v
		case "m:c":
			rec.Created, err = decodeTime(v)
		case "m:l":
			rec.LastSeen, err = decodeTime(v)
		case "m:e":
			rec.Expires, err = decodeTime(v)
		case "m:to":
			to, moved = v, true
		case "m:sealed":
			sealed = v
		case "m:a":
			rec.Attrs, err = decodeAttrs(v)
			if err != nil {
				return nil, err
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %q", ErrCorrupt, f, trunc(v))
		}
	}
	if !version {
		return nil, fmt.Errorf("%w: no version", ErrCorrupt)
	}
	rec.Values = values.Values()
	if moved {
		if rec.Values.Len() > 0 || rec.UserID != "" || len(rec.Attrs) > 0 {
			return nil, fmt.Errorf("%w: tombstone with values, a user or attributes", ErrCorrupt)
		}
		rec.Moved = &store.Moved{To: to, Sealed: []byte(sealed)}
	}
	return rec, nil
}

// bytesOf returns the bytes of s without copying them, for a reader that
// only reads them (store.ValuesBuilder copies each value into the record's
// own): a copy here would be a second one, per value, on every load.
func bytesOf(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// decodeTime decodes a time of a hash of the previous layout: Unix
// milliseconds, the zero time as an empty string.
func decodeTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var canonical [20]byte
	if string(strconv.AppendInt(canonical[:0], ms, 10)) != s { // compared without an allocation
		return time.Time{}, errors.New("not in canonical form")
	}
	return time.UnixMilli(ms), nil
}
