//go:build race

package local

// raceEnabled shortens the slowest test under the race detector, which
// makes each seal ~10x slower without adding anything for a loop with no
// concurrency.
const raceEnabled = true
