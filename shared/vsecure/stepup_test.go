package vsecure

import (
	"testing"
	"time"
)

func TestRequireStepUp(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	passkey := func(age time.Duration) *StepUp {
		return &StepUp{Method: StepUpPasskey, CredentialID: "cred-1", At: now.Add(-age)}
	}
	cases := []struct {
		name string
		s    *StepUp
		ok   bool
	}{
		{"none", nil, false},
		{"fresh_passkey", passkey(time.Minute), true},
		{"passkey_at_the_max_age", passkey(StepUpMaxAge), true},
		{"passkey_past_the_max_age", passkey(StepUpMaxAge + time.Second), false},
		{"passkey_slightly_ahead_of_the_clock", passkey(-StepUpSkew), true},
		{"passkey_far_ahead_of_the_clock", passkey(-StepUpSkew - time.Second), false},
		{"zero_time", &StepUp{Method: StepUpPasskey, CredentialID: "cred-1"}, false},
		{"other_method", &StepUp{Method: "totp", CredentialID: "cred-1", At: now}, false},
		{"no_method", &StepUp{CredentialID: "cred-1", At: now}, false},
		{"no_credential", &StepUp{Method: StepUpPasskey, At: now}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := RequireStepUp(tc.s, now, "https://vsecure.example/approvals/appr_1")
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			de, _ := err.(*Error)
			if de == nil || de.Code != EStepUpRequired || de.Detail["approvalUrl"] != "https://vsecure.example/approvals/appr_1" {
				t.Fatalf("got %v, want step_up_required naming the approvalUrl", err)
			}
		})
	}
}
