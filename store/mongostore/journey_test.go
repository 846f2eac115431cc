package mongostore

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tether-go/tether/internal/apptest"
)

// Journey holds the store to header tokens through rotation, remember-me
// lifetimes and device attributes, end to end through the middleware.
var _ = backendTest("Journey", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	apptest.Journey(t, newStore(t, cl))
})
