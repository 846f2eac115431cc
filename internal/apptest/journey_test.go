package apptest_test

import (
	"testing"

	"github.com/tether-go/tether/internal/apptest"
	"github.com/tether-go/tether/store/memstore"
)

func TestJourneyMemstore(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	apptest.Journey(t, st)
}
