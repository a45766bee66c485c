package config_test

import (
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
)

func TestLimitsConfiguration(t *testing.T) {
	t.Parallel()
	def := config.Default()
	if !def.Limits.Enabled || def.Limits.FailureCost <= def.Limits.SuccessCost || def.Limits.MaxKeys <= 0 {
		t.Fatalf("defaults: %+v", def.Limits)
	}
	path := writeFile(t, "limits:\n  clientRate: 2.5\n  ipBurst: 30\n")
	cfg, err := config.Load(path, []string{"TOKENWRIGHT_LIMITS_FAILURE_COST=40", "TOKENWRIGHT_LIMITS_MAX_KEYS=5000"})
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	if l.ClientRate != 2.5 || l.IPBurst != 30 || l.FailureCost != 40 || l.MaxKeys != 5000 || l.ClientBurst != def.Limits.ClientBurst {
		t.Fatalf("file and environment not applied: %+v", l)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	bad := config.Default()
	bad.Limits.ClientRate = 0
	bad.Limits.FailureCost = 0.5
	bad.Limits.MaxKeys = 1
	err = bad.Validate()
	for _, key := range []string{"limits.clientRate", "limits.failureCost", "limits.maxKeys"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("invalid %s not reported: %v", key, err)
		}
	}
	if _, err := config.Load("", []string{"TOKENWRIGHT_LIMITS_IP_RATE=fast"}); err == nil || !strings.Contains(err.Error(), "TOKENWRIGHT_LIMITS_IP_RATE") {
		t.Errorf("non-numeric rate: %v", err)
	}
	// Disabled limits need no other setting.
	off := config.Default()
	off.Limits = config.Limits{}
	if err := off.Validate(); err != nil {
		t.Errorf("disabled limits: %v", err)
	}
}
