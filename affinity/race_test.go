//go:build race

package affinity_test

// raceEnabled: the test runs with -race, and builds the test app with it too.
const raceEnabled = true
