//go:build !race

package affinity_test

const raceEnabled = false
