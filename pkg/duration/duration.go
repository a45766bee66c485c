// Package duration parses human durations for configuration and the CLI:
// everything time.ParseDuration accepts, plus whole days ("90d") and weeks
// ("2w"), which is how people state key lifetimes.
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse parses s. "d" is 24 hours and "w" 7 days; they cannot be mixed with
// other units ("1d12h" is refused; write "36h").
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n < 0 || n > 365*100 {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			return time.Duration(n) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (examples: 90d, 2w, 12h, 30m)", s)
	}
	return d, nil
}
