package main

import "testing"

// The digest step's archive lag alarms past three hours, and also when the
// metric stops (a digest step that no longer archives); the retentions
// reach the functions that write, seal and verify audit entries.
func TestAuditArchiveAlarmAndRetentions(t *testing.T) {
	for env, archiveDays := range map[string]string{"prod": "2557", "dev": "1"} {
		s := synth(t, env, 30)
		ids := s.functionIDs(t)
		found := 0
		for _, a := range s.ofType("AWS::CloudWatch::Alarm") {
			p := a.Properties
			if p["MetricName"] != archiveLagMetric {
				continue
			}
			found++
			dims, _ := p["Dimensions"].([]any)
			if p["Namespace"] != metricNamespace || p["Statistic"] != "Maximum" || p["Period"] != float64(900) ||
				p["Threshold"] != float64(archiveLagAlarmSeconds) || p["ComparisonOperator"] != "GreaterThanThreshold" ||
				p["TreatMissingData"] != "breaching" || len(dims) != 1 || getAtt(dims[0].(map[string]any)["Value"]) != ids[digestFunction] {
				t.Errorf("%s: alarm %v", env, p)
			}
		}
		if found != 1 {
			t.Fatalf("%s: %d alarms on %s, want 1", env, found, archiveLagMetric)
		}
		vars := func(fn string) map[string]any {
			return s.resources[ids[fn]].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		}
		for _, fn := range []string{digestFunction, "audit-verify", "resources-get"} {
			if got := vars(fn)["VSECURE_AUDIT_RETENTION"]; got != "400d" {
				t.Errorf("%s: %s VSECURE_AUDIT_RETENTION = %v, want 400d", env, fn, got)
			}
		}
		if got := vars(digestFunction)["VSECURE_ARCHIVE_RETENTION_DAYS"]; got != archiveDays {
			t.Errorf("%s: VSECURE_ARCHIVE_RETENTION_DAYS = %v, want %s", env, got, archiveDays)
		}
		if _, ok := vars("health")["VSECURE_AUDIT_RETENTION"]; ok {
			t.Errorf("%s: health, which writes no audit, is told the audit retention", env)
		}
	}
}
