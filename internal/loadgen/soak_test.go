package loadgen

import (
	"math"
	"testing"
	"time"
)

// TestRSSSummary checks the summary against a hand-computed case: the
// second half rises 10 MiB every 500 s, 72 MiB an hour.
func TestRSSSummary(t *testing.T) {
	samples := []SoakSample{{Seconds: 0, RSSMB: 100}, {Seconds: 500, RSSMB: 110}, {Seconds: 1000, RSSMB: 110}, {Seconds: 1500, RSSMB: 120}, {Seconds: 2000, RSSMB: 130}}
	warm, end, most, slope := rssSummary(samples, 2000*time.Second)
	if warm != 110 || end != 130 || most != 130 || math.Abs(slope-72) > 1e-9 {
		t.Errorf("warm %v, end %v, max %v, slope %v; want 110, 130, 130, 72", warm, end, most, slope)
	}
	// A flat second half has no slope.
	flat := []SoakSample{{Seconds: 0, RSSMB: 50}, {Seconds: 60, RSSMB: 90}, {Seconds: 120, RSSMB: 90}}
	if _, _, _, slope := rssSummary(flat, 120*time.Second); slope != 0 {
		t.Errorf("flat: slope %v", slope)
	}
}
