//go:build race

package local

// raceEnabled: the race detector slows everything several times over, so
// timing budgets are reported but not asserted under it.
const raceEnabled = true
