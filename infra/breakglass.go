package main

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// secretContext is the encryption context every secret's data key is
// bound to (shared/crypto/kms.EncryptionContext: uri and version).
const secretContext = "kms:EncryptionContext:uri"

// breakGlassRoleName names the one role outside the gate that may open
// secrets' data keys (docs/SECURITY.md, "Break glass").
func (v *Vsecure) breakGlassRoleName() string { return "vsecure-" + v.Config.Env + "-break-glass" }

// protectDataKeys adds to the key policy a Deny of every data-key
// operation on a secret's context to every principal except the functions
// that seal or open secrets and the break-glass role: an account
// administrator, whose IAM policy allows kms:* through the key policy's
// root statement, cannot read secrets around the gate without assuming a
// named role first, which CloudTrail records.
func (v *Vsecure) protectDataKeys() {
	bg := awsiam.NewRole(v.Stack, jsii.String("BreakGlassRole"), &awsiam.RoleProps{
		RoleName: jsii.String(v.breakGlassRoleName()),
		AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewAccountRootPrincipal(), &map[string]any{
			"Bool": map[string]any{"aws:MultiFactorAuthPresent": "true"},
		}),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
		Description:        jsii.String("vsecure " + v.Config.Env + ": break glass, opens secrets' data keys outside the gate (MFA; every use is in CloudTrail, docs/SECURITY.md)"),
	})
	bg.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("OpenSecretDataKeys"),
		Actions:    jsii.Strings("kms:Decrypt"),
		Resources:  &[]*string{v.Key.KeyArn()},
		Conditions: &map[string]any{"StringLike": map[string]any{secretContext: "vsecure://*"}},
	}))
	names := make([]string, 0, len(v.Functions))
	for n := range v.Functions {
		if functionSpecs[n].Sealer != sealNone {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	allowed := []*string{bg.RoleArn()}
	for _, n := range names {
		allowed = append(allowed, v.Functions[n].Role().RoleArn())
	}
	v.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("SecretDataKeysOnlyThroughTheGate"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringLike":   map[string]any{secretContext: "vsecure://*"},
			"ArnNotEquals": map[string]any{"aws:PrincipalArn": allowed},
		},
	}), nil)
	awscdk.NewCfnOutput(v.Stack, jsii.String("BreakGlassRoleArn"), &awscdk.CfnOutputProps{
		Value:       bg.RoleArn(),
		Description: jsii.String("Break-glass role: the only principal besides the gate's functions that may open secrets' data keys (docs/SECURITY.md)"),
	})
}
