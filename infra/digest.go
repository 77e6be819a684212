package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"
)

// digestEvery is the audit digest schedule. It matches the digest window
// (shared/digest.DefaultWindow): each run seals the window that closed
// (plus the grace delay) since the last one, and verification flags
// entries left unsealed for longer than a few runs.
const digestEveryMinutes = 5

// signingKey is the audit digests' KMS key: ECC_NIST_P256 for
// SIGN_VERIFY. Only the digest step may Sign; audit-verify may only read
// the public key; nobody else is granted anything (the key policy is the
// account-root default, so IAM decides).
func (v *Vsecure) signingKey() {
	v.SigningKey = awskms.NewKey(v.Stack, jsii.String("AuditSigningKey"), &awskms.KeyProps{
		Description:   jsii.String("vsecure " + v.Config.Env + ": signs audit digests (tamper-evident audit log)"),
		Alias:         jsii.String("alias/vsecure-" + v.Config.Env + "-audit-signing"),
		KeySpec:       awskms.KeySpec_ECC_NIST_P256,
		KeyUsage:      awskms.KeyUsage_SIGN_VERIFY,
		RemovalPolicy: v.removal(),
		PendingWindow: awscdk.Duration_Days(jsii.Number(30)),
	})
}

// digestSchedule declares the scheduled digest step: an EventBridge rule
// invokes audit-digest every few minutes. A failed run is alarmed (its
// function's Errors alarm) and the next run resumes from the last digest
// written, so EventBridge's own retries would only overlap runs.
func (v *Vsecure) digestSchedule() error {
	fn, err := v.function(digestFunction, "scheduled audit digest step (every 5 minutes)")
	if err != nil {
		return err
	}
	rule := awsevents.NewRule(v.Stack, jsii.String("AuditDigestSchedule"), &awsevents.RuleProps{
		Description: jsii.String("vsecure " + v.Config.Env + ": seal closed audit windows into signed digests"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(digestEveryMinutes))),
	})
	rule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(0),
	}))
	v.archiveLagAlarm(fn)
	return nil
}
