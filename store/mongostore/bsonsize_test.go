package mongostore

import (
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tether-go/tether/store"
)

// BSON's caps: a document (and so a stored record) holds at most 16 MiB; a
// command, filter and update together, at most 16 KiB more.
const (
	bsonDocCap     = 16 << 20
	bsonCommandCap = bsonDocCap + 16<<10
)

// escAlphabet are the bytes escapeKey writes %XX wherever they stand: '%',
// '.', '$', NUL, and the bytes that are invalid UTF-8 in any position
// (continuation bytes and never-valid leads). A key made of them takes
// three times its length as a field name.
var escAlphabet = func() []byte {
	var a []byte
	for c := 0; c < 256; c++ {
		if c == '%' || c == '.' || c == '$' || c == 0 || (c >= 0x80 && c <= 0xC1) || c >= 0xF5 {
			a = append(a, byte(c))
		}
	}
	return a
}()

// escKeys returns n distinct keys of length l made of escAlphabet.
func escKeys(l, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		b := make([]byte, l)
		for j, x := 0, i; j < l; j, x = j+1, x/len(escAlphabet) {
			b[j] = escAlphabet[x%len(escAlphabet)]
		}
		keys[i] = string(b)
	}
	return keys
}

// worstCounts returns, by key length, how many keys the record whose
// document costs the most per byte of store.Record.Size under budget has:
// the empty key, then every key of escAlphabet of one, two, three bytes
// and then four, all with empty values. Shorter keys cost more per byte
// (each has a fixed overhead, twice: a value and a size).
func worstCounts(budget int) map[int]int {
	counts := map[int]int{0: 1}
	avail := 1
	for l := 1; l <= 4 && budget >= l; l++ {
		avail *= len(escAlphabet)
		n := min(avail, budget/l)
		counts[l] = n
		budget -= n * l
	}
	return counts
}

func bsonLen(t *testing.T, v any) int {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

func setOf(keys []string) map[string][]byte {
	set := make(map[string][]byte, len(keys))
	for _, k := range keys {
		set[k] = nil
	}
	return set
}

// extrapolate returns the BSON size of build for the record of counts.
// BSON sizes add up element by element, and every key of one length costs
// the same (its field name is three times its length), so it marshals
// build of no key, one and two keys of each length, and sums: exact, and
// cheap where marshalling the hundreds of thousands of keys themselves
// takes minutes under the race detector.
func extrapolate(t *testing.T, counts map[int]int, build func(set map[string][]byte) any) int {
	t.Helper()
	base := bsonLen(t, build(nil))
	total := base
	for l, n := range counts {
		if n == 0 {
			continue
		}
		one := bsonLen(t, build(setOf(escKeys(l, 1)))) - base
		two := bsonLen(t, build(setOf(escKeys(l, 2)))) - base
		total += one + (n-1)*(two-one)
	}
	return total
}

// Every record the limit admits, up to MaxRecordSizeLimit, fits BSON's
// 16 MiB document cap, however its size is made up (the worst case: many
// tiny keys that escaping triples), and the Update that writes it fits a
// command (in place if its estimate allows, else replacing the document);
// so the server never refuses a record the limit admitted.
func TestWorstRecordFitsBSON(t *testing.T) {
	id := strings.Repeat("i", maxIDLen)
	coll := strings.Repeat("c", 120)
	now := time.Now().UnixNano()
	for _, limit := range []int{DefaultMaxRecordSize, MaxRecordSizeLimit} {
		counts := worstCounts(limit)
		size, keys := 0, 0
		for l, n := range counts {
			size += l * n
			keys += n
		}
		if size > limit || size < limit-3 {
			t.Fatalf("worstCounts(%d) makes a record of %d bytes", limit, size)
		}
		doc := extrapolate(t, counts, func(set map[string][]byte) any {
			d, _ := newDoc(id, set, "", nil, now, now, now, 1)
			return d
		})
		if doc > bsonDocCap {
			t.Errorf("limit %d: a record of %d bytes (%d keys) is a document of %d bytes, over BSON's %d", limit, size, keys, doc, bsonDocCap)
		}
		s := &Store{cfg: defaultConfig()}
		s.cfg.maxRecordSize = limit
		var cost int
		for l, n := range counts {
			cost += n * inPlaceCost(&store.Change{Set: setOf(escKeys(l, 1))}, nil)
		}
		var cmd int
		if cost > s.cfg.inPlaceMax {
			cmd = extrapolate(t, counts, func(set map[string][]byte) any {
				d, _ := newDoc(id, set, "", nil, now, now, now, 2)
				filter := bson.D{{Key: fID, Value: id}, {Key: fVersion, Value: int64(1)},
					{Key: fMovedTo, Value: bson.D{{Key: "$exists", Value: false}}}, {Key: fExpires, Value: bson.D{{Key: "$gt", Value: now}}}}
				return bson.D{{Key: "update", Value: coll}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: filter}, {Key: "u", Value: d}}}}}
			})
		} else {
			cmd = extrapolate(t, counts, func(set map[string][]byte) any { return inPlaceCommand(t, s, id, coll, now, set, nil) })
		}
		if cmd > bsonCommandCap {
			t.Errorf("limit %d: the Update writing %d keys (estimate %d) is a command of %d bytes, over BSON's %d", limit, keys, cost, cmd, bsonCommandCap)
		}
	}
}

// inPlaceCost bounds every in-place command from above, key by key: so the
// largest change the store applies in place (inPlaceMax) makes a command
// below BSON's cap.
func TestInPlaceCostBoundsCommand(t *testing.T) {
	if defaultInPlaceMax+64<<10 > bsonCommandCap {
		t.Fatalf("defaultInPlaceMax %d leaves no room under BSON's command cap", defaultInPlaceMax)
	}
	s := &Store{cfg: defaultConfig()}
	s.cfg.maxRecordSize = 1 << 30
	id, coll, now := strings.Repeat("i", maxIDLen), strings.Repeat("c", 120), time.Now().UnixNano()
	base := bsonLen(t, inPlaceCommand(t, s, id, coll, now, nil, nil))
	for l := 0; l <= 8; l++ {
		for _, v := range [][]byte{nil, []byte("value")} {
			k := escKeys(l, 1)[0]
			c := store.Change{Set: map[string][]byte{k: v}}
			if got, est := bsonLen(t, inPlaceCommand(t, s, id, coll, now, c.Set, nil))-base, inPlaceCost(&c, nil); got > est {
				t.Errorf("setting a key of %d bytes takes %d bytes of command, estimated %d", l, got, est)
			}
		}
		k := escKeys(l, 1)[0]
		if got, est := bsonLen(t, inPlaceCommand(t, s, id, coll, now, nil, []string{k}))-base, inPlaceCost(&store.Change{}, []string{k}); got > est {
			t.Errorf("deleting a key of %d bytes takes %d bytes of command, estimated %d", l, got, est)
		}
	}
}

// inPlaceCommand returns the findAndModify an in-place Update of an empty
// record sends to set set and delete dels (which the record has).
func inPlaceCommand(t *testing.T, s *Store, id, coll string, now int64, set map[string][]byte, dels []string) bson.D {
	t.Helper()
	c := store.Change{Mode: store.Update, Set: set, Delete: dels}
	sizes := bson.D{}
	for _, k := range dels {
		sizes = append(sizes, bson.E{Key: escapeKey(k), Value: int64(len(k))})
	}
	raw, err := bson.Marshal(sizes)
	if err != nil {
		t.Fatal(err)
	}
	r := &record{ID: id, Expires: now + int64(time.Hour), Sizes: raw, Size: int64(len(dels) * 8), ValSize: int64(len(dels) * 8)}
	if inPlaceCost(&c, dels) > s.cfg.inPlaceMax {
		t.Fatalf("a change of %d keys is not applied in place", len(set)+len(dels))
	}
	filter, update, err := s.updateOp(r, id, now, &c, dels, 1)
	if err != nil {
		t.Fatal(err)
	}
	return bson.D{{Key: "findAndModify", Value: coll}, {Key: "query", Value: filter}, {Key: "update", Value: update},
		{Key: "new", Value: true}, {Key: "fields", Value: bson.D{{Key: fVersion, Value: 1}}}}
}
