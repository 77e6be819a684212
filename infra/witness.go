package main

import (
	"slices"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Default witness retention (context witnessRetentionDays): prod keeps
// each sealed digest's witness object locked for over a year, dev for a
// day so a dev bucket can be emptied soon after the stack is gone.
const (
	defaultWitnessRetentionDaysProd = 400
	defaultWitnessRetentionDaysDev  = 1
)

// witnessPrefix is where the digest step writes witness records
// (shared/archive/s3lock.DigestPrefix).
const witnessPrefix = "digests/"

// auditEpochContext is the encryption context key every audit MAC key is
// generated and decrypted under (shared/auditlog: one epoch per writer).
const auditEpochContext = "vsecure:audit-epoch"

// witnessBucket is the audit witness outside the store: Object Lock in
// COMPLIANCE mode, so a locked version can be neither deleted nor
// overwritten by anyone, the account root included, until its retention
// ends. IAM alone cannot stop a PutItem over an audit item; this copy
// makes such an overwrite, or a deleted digest, show.
func (v *Vsecure) witnessBucket() {
	v.WitnessBucket = awss3.NewBucket(v.Stack, jsii.String("AuditWitness"), &awss3.BucketProps{
		ObjectLockEnabled:          jsii.Bool(true),
		ObjectLockDefaultRetention: awss3.ObjectLockRetention_Compliance(awscdk.Duration_Days(jsii.Number(float64(v.Config.witnessRetentionDays())))),
		Versioned:                  jsii.Bool(true),
		Encryption:                 awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess:          awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:                 jsii.Bool(true),
		RemovalPolicy:              v.removal(),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(v.WitnessBucket, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("Only audit-digest writes (one locked object per sealed digest, logged by the function) and only audit-verify reads; " +
			"an access-log bucket would be one more bucket to protect for no extra evidence."),
	}}, jsii.Bool(true))
}

// auditMACKey wraps the per-epoch audit MAC keys (GenerateDataKey, AES-256,
// encryption context {vsecure:audit-epoch: <epoch>}). Writers may only
// generate (and so hold a key only while they write); only the digest step
// and audit-verify may decrypt the wrapped keys back to check MACs.
func (v *Vsecure) auditMACKey() {
	v.AuditMACKey = awskms.NewKey(v.Stack, jsii.String("AuditMacKey"), &awskms.KeyProps{
		Description:       jsii.String("vsecure " + v.Config.Env + ": wraps audit MAC keys (one per writer epoch)"),
		Alias:             jsii.String("alias/vsecure-" + v.Config.Env + "-audit-mac"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     v.removal(),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
	})
}

// writesAudit reports whether a function appends audit entries: a store
// method that grants the audit Put, other than PutDigest (a digest is not
// an entry and is not MAC-chained) and IndexAudit (index segments and the
// indexer's own state are not entries either).
func writesAudit(spec functionSpec) bool {
	for _, m := range spec.Store {
		if m == "PutDigest" || m == "IndexAudit" {
			continue
		}
		for _, g := range storeAccess[m] {
			// The audit table's readers Query the table itself too.
			if g.On == appendAudit.On && slices.Contains(g.Actions, "dynamodb:PutItem") {
				return true
			}
		}
	}
	return false
}

// macKeyActions is what a function may do with the audit MAC key.
func macKeyActions(spec functionSpec) []string {
	var out []string
	if spec.Digest.checks() {
		out = append(out, "kms:Decrypt")
	}
	if writesAudit(spec) {
		out = append(out, "kms:GenerateDataKey")
	}
	return out
}

// auditStatements are a function's grants on the MAC key and the witness
// bucket.
func (v *Vsecure) auditStatements(spec functionSpec) []awsiam.PolicyStatement {
	var out []awsiam.PolicyStatement
	if actions := macKeyActions(spec); len(actions) > 0 {
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AuditMacKeys"),
			Actions:   jsii.Strings(actions...),
			Resources: &[]*string{v.AuditMACKey.KeyArn()},
			Conditions: &map[string]any{
				"ForAllValues:StringEquals": map[string]any{"kms:EncryptionContextKeys": []string{auditEpochContext}},
				"Null":                      map[string]any{"kms:EncryptionContextKeys": "false"},
			},
		}))
	}
	objects := jsii.String(*v.WitnessBucket.BucketArn() + "/" + witnessPrefix + "*")
	switch spec.Digest {
	case digestSign:
		// GetObject: a retried append compares with what is stored.
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("WitnessWrite"),
			Actions:   jsii.Strings("s3:GetObject", "s3:PutObject", "s3:PutObjectRetention"),
			Resources: &[]*string{objects},
		}))
	case digestVerify:
		out = append(out,
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("WitnessRead"),
				Actions:   jsii.Strings("s3:GetObject"),
				Resources: &[]*string{objects},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("WitnessList"),
				Actions:    jsii.Strings("s3:ListBucket"),
				Resources:  &[]*string{v.WitnessBucket.BucketArn()},
				Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": witnessPrefix + "*"}},
			}))
	}
	return out
}

// auditEnvironment adds the MAC key and witness bucket variables.
func (v *Vsecure) auditEnvironment(spec functionSpec, env map[string]*string) {
	if len(macKeyActions(spec)) > 0 {
		env["VSECURE_AUDIT_MAC_KEY_ID"] = v.AuditMACKey.KeyArn()
	}
	if spec.Digest.checks() {
		env["VSECURE_WITNESS_BUCKET"] = v.WitnessBucket.BucketName()
	}
	if spec.Digest == digestSign {
		env["VSECURE_WITNESS_RETENTION_DAYS"] = jsii.String(strconv.Itoa(v.Config.witnessRetentionDays()))
	}
}

// checks reports whether a function seals or verifies digests, and so opens
// MAC keys and reads (or writes) the witness.
func (d digestUse) checks() bool { return d == digestSign || d == digestVerify }
