package ddbsize

import "testing"

func TestNumber(t *testing.T) {
	for s, want := range map[string]int{"0": 1, "7": 2, "12": 2, "123": 3, "-1200": 2, "0.0012": 2, "1.5e10": 2, "1767225600": 5} {
		if got := Number(s); got != want {
			t.Errorf("Number(%q) = %d, want %d", s, got, want)
		}
	}
}
