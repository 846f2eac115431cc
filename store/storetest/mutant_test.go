package storetest_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

// The suite is only worth what it catches. Each mutant below is the memory
// store with one contract rule broken; TestSuiteCatchesMutants runs the suite
// against each (in a child process, since the suite failing is the point) and
// requires the named subtests to fail.

// broken wraps a correct store; mutants override what they break.
type broken struct {
	store.Store
	clock *storetest.Clock
}

type mutant struct {
	groups string   // -test.run pattern under TestMutant, to keep runs short
	fails  []string // subtests that must fail
	make   func(*memstore.Store, *storetest.Clock) store.Store
	// lag delays the clock the memory store reads, so that records outlive
	// their expiry.
	lag time.Duration
	// opts configure the memory store further.
	opts []memstore.Option
}

// mutantRecordLimit is the per-record limit of the mutants' stores, small to
// keep the runs short.
const mutantRecordLimit = 128 << 10

var mutants = map[string]mutant{
	"resurrecting-update": {
		groups: "CRUD", fails: []string{"CRUD/UpdateMissing", "CRUD/UpdateAfterDelete"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return resurrect{broken{s, c}} },
	},
	"blind-overwrite": {
		groups: "Concurrency", fails: []string{"Concurrency/DistinctKeys"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return &overwrite{broken: broken{s, c}} },
	},
	"retains-change": {
		groups: "Commit", fails: []string{"Commit/DoesNotRetainChange"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return &retain{broken: broken{s, c}, kept: map[string]map[string][]byte{}}
		},
	},
	"mutable-records": {
		groups: "Commit", fails: []string{"Commit/RecordsAreSnapshots"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return &mutable{broken: broken{s, c}, last: map[string]*store.Record{}}
		},
	},
	"late-expiry": {
		groups: "Expiry|Move", lag: time.Hour,
		fails: []string{"Expiry/ExpiredAtCreate", "Expiry/ExpiresAtDeadline", "Expiry/TouchToPast", "Move/TombstoneExpires"},
		make:  func(s *memstore.Store, c *storetest.Clock) store.Store { return s },
	},
	"touch-keeps-version": {
		groups: "CRUD|Commit", fails: []string{"CRUD/Touch", "Commit/VersionIncreases"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return versionFreeze{broken{s, c}} },
	},
	"tombstone-keeps-values": {
		groups: "Move", fails: []string{"Move/Tombstone"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return &leakyMove{broken: broken{s, c}} },
	},
	"move-ignores-version": {
		groups: "Move", fails: []string{"Move/WrongVersion"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return moveAnyVersion{broken{s, c}} },
	},
	"ignores-set-user-id": {
		groups: "Users", fails: []string{"Users/SetUserIDMoves", "Users/SetUserIDEmpty"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return noSetUser{broken{s, c}} },
	},
	"delete-user-miscounts": {
		groups: "Users|Move", fails: []string{"Users/DeleteUser", "Users/UnknownUser", "Move/LeavesUserIndex"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return miscount{broken{s, c}} },
	},
	"ignores-context": {
		groups: "Context", fails: []string{"Context/Canceled", "Context/DeadlineExceeded"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return noCtx{broken{s, c}} },
	},
	"second-precision": {
		groups: "CRUD|Users", fails: []string{"CRUD/CreateLoad", "Users/Index"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return seconds{broken{s, c}} },
	},
	"drops-empty-values": {
		groups: "Commit", fails: []string{"Commit/EmptyValueIsNotMissing", "Commit/BinaryValues"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return dropEmpty{broken{s, c}} },
	},
	"ignores-clear": {
		groups: "Commit", fails: []string{"Commit/ClearThenSet", "Commit/ClearOnly"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return noClear{broken{s, c}} },
	},
	"wrong-too-large-error": {
		groups: "Hostile", fails: []string{"Hostile/TooLargeValue"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return badTooLarge{broken{s, c}} },
	},
	"case-folds-keys": {
		groups: "Hostile", fails: []string{"Hostile/MetadataLikeKeys"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return foldKeys{broken{s, c}} },
	},
	"lists-users-by-prefix": {
		groups: "Users", fails: []string{"Users/HostileUserIDs"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return prefixUsers{broken{s, c}} },
	},
	"touch-writes-values": {
		groups: "Concurrency", fails: []string{"Concurrency/TouchAndCommit"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return staleTouch{broken{s, c}} },
	},
	"notifier-without-reset": {
		groups: "Capabilities", fails: []string{"Capabilities/Notifier"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return &notifying{broken: broken{s, c}, noReset: true}
		},
	},
	"notifier-misses-touch": {
		groups: "Capabilities", fails: []string{"Capabilities/Notifier"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return &notifying{broken: broken{s, c}, skipTouch: true}
		},
	},
	"resent-move-refused": {
		groups: "Move", fails: []string{"Move/Resend", "Move/EndedTombstone"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return resendMoved{broken{s, c}} },
	},
	"ended-tombstone-forwards": {
		groups: "Move", fails: []string{"Move/EndedTombstone", "Move/WritesOnEndedTombstone"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return endedTombstone{broken{s, c}, "forward"}
		},
	},
	"ended-tombstone-refused": {
		groups: "Move", fails: []string{"Move/EndedTombstone", "Move/WritesOnEndedTombstone"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return endedTombstone{broken{s, c}, "refuse"}
		},
	},
	"ended-tombstone-deleted": {
		groups: "Move", fails: []string{"Move/EndedTombstone", "Move/WritesOnEndedTombstone"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return endedTombstone{broken{s, c}, "delete"}
		},
	},
	"record-limit-counts-base64": {
		groups: "Hostile", fails: []string{"Hostile/RecordAtLimit"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return base64Size{broken{s, c}} },
	},
	"no-record-limit": {
		groups: "Hostile", fails: []string{"Hostile/RecordOverLimit"},
		opts: []memstore.Option{memstore.WithMaxRecordSize(1 << 20)},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return s },
	},
	"applies-late-writes": {
		groups: "Context", fails: []string{"Context/LateWrites"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return lateWrites{broken{s, c}} },
	},
	"refuses-writes-with-deadline": {
		groups: "Context", fails: []string{"Context/WritesBeforeDeadline"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return deadlineRefused{broken{s, c}} },
	},
	"ignores-set-attrs": {
		groups: "Attrs", fails: []string{"Attrs/ReplaceAttrs", "Attrs/ClearAttrs", "Attrs/AttrsOnlyChange"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return noSetAttrs{broken{s, c}} },
	},
	"lists-without-attrs": {
		groups: "Attrs", fails: []string{"Attrs/CreateListsAttrs", "Attrs/HostileAttrs"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return bareInfos{broken{s, c}} },
	},
	"keeps-time-on-update": {
		groups: "CRUD|Commit", fails: []string{"CRUD/UpdateKeepsCreatedAndUser", "Commit/EmptyChange"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store { return keepTimes{broken{s, c}} },
	},
}

const mutantEnv = "STORETEST_MUTANT"

// TestMutant runs the suite against the mutant named in the environment; it is
// a no-op otherwise.
func TestMutant(t *testing.T) {
	name := os.Getenv(mutantEnv)
	if name == "" {
		t.Skip("run by TestSuiteCatchesMutants")
	}
	m := mutants[name]
	clock := storetest.NewClock(time.Date(2031, 5, 6, 7, 8, 9, 10, time.UTC))
	lagged := func() time.Time { return clock.Now().Add(-m.lag) }
	storetest.Run(t, func(t *testing.T) store.Store {
		opts := append([]memstore.Option{memstore.WithClock(lagged), memstore.WithMaxBytes(2 << 20),
			memstore.WithMaxRecordSize(mutantRecordLimit)}, m.opts...)
		s := memstore.New(opts...)
		t.Cleanup(func() { s.Close() })
		return m.make(s, clock)
	}, storetest.WithClock(clock.Now, clock.Advance), storetest.WithMaxValueSize(64<<10),
		storetest.WithMaxRecordSize(mutantRecordLimit))
}

// TestNotifierPasses checks the suite's Notifier subtest against a correct
// notifier, since the memory store is none.
func TestNotifierPasses(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	storetest.Run(t, func(t *testing.T) store.Store {
		s := memstore.New(memstore.WithClock(clock.Now))
		t.Cleanup(func() { s.Close() })
		return &notifying{broken: broken{s, clock}}
	}, storetest.WithClock(clock.Now, clock.Advance),
		storetest.WithSkip("CRUD", "Commit", "Expiry", "Move", "Users", "Concurrency", "Hostile", "Context", "Capabilities/Versioner"))
}

func TestSuiteCatchesMutants(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("inside a mutant run")
	}
	if testing.Short() {
		t.Skip("runs the suite once per mutant")
	}
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$/^("+m.groups+")$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), mutantEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store that breaks the contract:\n%s", tail(out))
			}
			for _, f := range m.fails {
				if !bytes.Contains(out, []byte("--- FAIL: TestMutant/"+f+" ")) {
					t.Errorf("subtest %s did not fail", f)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", tail(out))
			}
		})
	}
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s
}
