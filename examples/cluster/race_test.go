//go:build race

package cluster_test

// raceEnabled: the test runs with -race, and builds the app with it too.
const raceEnabled = true
