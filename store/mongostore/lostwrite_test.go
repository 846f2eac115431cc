package mongostore

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tether-go/tether/store"
)

// A replica set rolls back writes acknowledged with w:1 when its primary
// fails over before they replicated, as Redis and asynchronous SQL replicas
// lose them: the next write must not reuse the lost write's version, or the
// rotation's Move, checked against the version a request loaded from the
// lost write, passes over the newer record and copies the lost values. The
// failover is played by putting the document back as it was before the
// lost write.
var _ = backendTest("MoveAfterLostWrite", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	s := newStore(t, cl)
	ctx := ctxT(t)
	id, _ := createRecord(t, s, time.Now())
	var snap bson.Raw
	if err := s.coll.FindOne(ctx, bson.D{{Key: fID, Value: id}}).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"lost": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	stale, err := s.Load(ctx, id)
	if err != nil || stale == nil {
		t.Fatal(stale, err)
	}
	if _, err := s.coll.ReplaceOne(ctx, bson.D{{Key: fID, Value: id}}, snap); err != nil {
		t.Fatal(err)
	}
	res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"kept": []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version == stale.Version {
		t.Errorf("the write after the failover took the lost write's version %d for other contents", res.Version)
	}
	if err := s.Move(ctx, id, store.Moved{To: newID()}, time.Now().Add(time.Hour), stale.Version); err == nil {
		t.Errorf("a Move checked against the lost write's version passed over the record written after the failover")
	}
})
