package mongostore_test

import (
	"context"
	"log"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tether-go/tether/store/mongostore"
)

// The caller connects the client and picks the collection; the store
// creates its indexes and, where the server refuses a TTL index, runs a
// reaper until Close.
func Example() {
	cl, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:27017").SetMaxPoolSize(32))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Disconnect(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := mongostore.New(ctx, cl.Database("app").Collection("sessions"),
		mongostore.WithReapInterval(10*time.Minute),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// Pass s to session.New, or wrap it in a hybridstore first.
}
