package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
)

// Vsecure is the deployed system: one stack and handles on the parts the
// tests and later additions (the approval workflow) need.
type Vsecure struct {
	Stack  awscdk.Stack
	Config Config
	Key    awskms.Key
	// SigningKey signs audit digests (asymmetric: the private half never
	// leaves KMS).
	SigningKey awskms.Key
	// AuditMACKey wraps audit MAC keys; WitnessBucket is the Object Lock
	// witness of sealed digests (witness.go).
	AuditMACKey   awskms.Key
	WitnessBucket awss3.Bucket
	Tables        map[string]awsdynamodb.Table // by schema table name
	Functions     map[string]awslambda.Function
	API           awsapigatewayv2.HttpApi
	AlarmTopic    awssns.Topic
	SlackSecret   awssecretsmanager.Secret
	CursorSecret  awssecretsmanager.Secret
	// ConsoleSecret seals the console's session cookies (generated).
	ConsoleSecret awssecretsmanager.Secret
	Workflow      *ApprovalWorkflow
	// Edge is the console's CloudFront distribution (edge.go); nil
	// without OIDC.
	Edge awscloudfront.Distribution
	// oidcEnv is the VSECURE_OIDC_* environment of the functions that
	// verify people's tokens (humanFunction); nil with OIDC off.
	oidcEnv map[string]*string
}

// NewVsecure declares the stack for cfg.
func NewVsecure(scope constructs.Construct, cfg Config) (*Vsecure, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var env *awscdk.Environment
	if cfg.Account != "" && cfg.Region != "" {
		env = &awscdk.Environment{Account: jsii.String(cfg.Account), Region: jsii.String(cfg.Region)}
	}
	stack := awscdk.NewStack(scope, jsii.String("vsecure-"+cfg.Env), &awscdk.StackProps{
		Env:                   env,
		Description:           jsii.String("vsecure " + cfg.Env + ": secrets gate for AI agents (HTTP API, Lambda, DynamoDB, KMS)"),
		TerminationProtection: jsii.Bool(cfg.Prod()),
	})
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("vsecure"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("env"), jsii.String(cfg.Env), nil)

	v := &Vsecure{Stack: stack, Config: cfg, Tables: map[string]awsdynamodb.Table{}, Functions: map[string]awslambda.Function{}}
	v.key()
	v.signingKey()
	v.auditMACKey()
	v.witnessBucket()
	v.tables()
	v.secrets()
	v.AlarmTopic = v.alarmTopic()
	v.API = awsapigatewayv2.NewHttpApi(stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String("vsecure-" + cfg.Env),
		Description:        jsii.String("vsecure " + cfg.Env + " API: one route per entry of shared/httpapi.Routes()"),
		CreateDefaultStage: jsii.Bool(false),
	})
	v.stage()
	v.oidcIssuer()
	if err := v.routes(); err != nil {
		return nil, err
	}
	v.routeThrottles()
	if err := v.workflow(); err != nil {
		return nil, err
	}
	if err := v.digestSchedule(); err != nil {
		return nil, err
	}
	if err := v.reconcileSchedule(); err != nil {
		return nil, err
	}
	if err := v.indexSchedule(); err != nil {
		return nil, err
	}
	if err := v.adminBootstrap(); err != nil {
		return nil, err
	}
	v.uncachedAuthorizer()
	v.protectDataKeys()
	v.alarms()
	v.outputs()
	return v, nil
}

// removal is what happens to stateful resources when the stack goes:
// prod keeps them, dev cleans up.
func (v *Vsecure) removal() awscdk.RemovalPolicy {
	if v.Config.Prod() {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// systemLogLevel drops Lambda's per-invocation START/END/REPORT lines in
// prod, where they would be most of the log volume (docs/cost.md); the same
// numbers are in the Lambda metrics.
func (v *Vsecure) systemLogLevel() awslambda.SystemLogLevel {
	if v.Config.Prod() {
		return awslambda.SystemLogLevel_WARN
	}
	return awslambda.SystemLogLevel_INFO
}

// tracing is the functions' X-Ray mode (Config.Tracing; docs/cost.md).
func (v *Vsecure) tracing() awslambda.Tracing {
	if v.Config.tracing() {
		return awslambda.Tracing_ACTIVE
	}
	return awslambda.Tracing_DISABLED
}

func (v *Vsecure) retention() awslogs.RetentionDays {
	if v.Config.Prod() {
		return awslogs.RetentionDays_ONE_YEAR
	}
	return awslogs.RetentionDays_TWO_WEEKS
}

// key is the stack's KMS key. It encrypts the tables (through DynamoDB
// only) and the alarm topic (through CloudWatch only), and wraps secret
// data keys for the two functions that seal and open secrets, whose IAM
// policies are the only direct grants (see functionPolicy).
func (v *Vsecure) key() {
	s := v.Stack
	v.Key = awskms.NewKey(s, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("vsecure " + v.Config.Env + ": DynamoDB tables, secret data keys, alarm topic"),
		Alias:             jsii.String("alias/vsecure-" + v.Config.Env),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     v.removal(),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
	})
	// DynamoDB encrypts table data under the key on behalf of whoever
	// calls it: any principal of this account, but only via DynamoDB in
	// this region (AWS's documented key policy for DynamoDB).
	v.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("TablesViaDynamoDB"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions: jsii.Strings("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
			"kms:CreateGrant", "kms:DescribeKey"),
		Resources: jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"kms:ViaService":    "dynamodb." + *s.Region() + ".amazonaws.com",
			"kms:CallerAccount": *s.Account(),
		}},
	}), nil)
	// CloudWatch alarms publish to the encrypted alarm topic.
	v.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AlarmsToEncryptedTopic"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": *s.Account()}},
	}), nil)
}

// tableID is the construct id of a schema table ("vsecure-audit" →
// "VsecureAuditTable").
func tableID(name string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + "Table"
}

// tableEnv is the environment variable carrying a table's deployed name
// ("vsecure-audit" → "VSECURE_AUDIT_TABLE").
func tableEnv(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_TABLE"
}

func attr(name string) *awsdynamodb.Attribute {
	if name == "" {
		return nil
	}
	return &awsdynamodb.Attribute{Name: jsii.String(name), Type: awsdynamodb.AttributeType_STRING}
}

// tables declares every table of the schema package, as the store's own
// tests create them, plus the production settings.
func (v *Vsecure) tables() {
	for _, t := range schema.Tables() {
		props := &awsdynamodb.TableProps{
			PartitionKey: attr(t.PartitionKey),
			SortKey:      attr(t.SortKey),
			BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			Encryption:         awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
			EncryptionKey:      v.Key,
			DeletionProtection: jsii.Bool(v.Config.Prod()),
			RemovalPolicy:      v.removal(),
		}
		if t.TTLAttribute != "" {
			props.TimeToLiveAttribute = jsii.String(t.TTLAttribute)
		}
		if t.Name == auditT {
			props.ResourcePolicy = appendOnlyPolicy()
		}
		table := awsdynamodb.NewTable(v.Stack, jsii.String(tableID(t.Name)), props)
		for _, ix := range t.Indexes {
			table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
				IndexName:      jsii.String(ix.Name),
				PartitionKey:   attr(ix.PartitionKey),
				SortKey:        attr(ix.SortKey),
				ProjectionType: awsdynamodb.ProjectionType(ix.Projection),
			})
		}
		v.Tables[t.Name] = table
	}
}

// auditIndexKeys are the partition keys of the audit indexer's own items
// (schema.AuditIndexPrefix segments, the X# watermark and claims): derived
// data, rebuilt from the entries.
var auditIndexKeys = []string{"I#*", "X#*"}

// appendOnlyPolicy is the audit table's resource policy: nobody, whatever
// their IAM policy says (an administrator, a compromised function), may
// change or delete an entry or digest through the data plane. Writers hold
// PutItem only, on a random id they cannot read back. Only the indexer's
// own items (auditIndexKeys) may be batch-written (its segments); TTL
// expiry is the service's, not a data-plane delete.
func appendOnlyPolicy() awsiam.PolicyDocument {
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AuditIsAppendOnly"),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"),
			Resources:  jsii.Strings("*"),
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AuditEntriesAreAppendOnly"),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("dynamodb:BatchWriteItem"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{"ForAnyValue:StringNotLike": map[string]any{"dynamodb:LeadingKeys": auditIndexKeys}},
		}),
	}})
}

// secrets declares the Slack credentials (filled in by an operator, see
// README) and the key that signs pagination cursors (generated).
func (v *Vsecure) secrets() {
	v.SlackSecret = awssecretsmanager.NewSecret(v.Stack, jsii.String("SlackCredentials"), &awssecretsmanager.SecretProps{
		Description: jsii.String("vsecure " + v.Config.Env + ": Slack bot token and signing secret; fill with put-secret-value (README)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			// Only the shape goes in the template; the values are set
			// out of band and never pass through CloudFormation.
			SecretStringTemplate: jsii.String(`{"botToken":"","signingSecret":""}`),
			GenerateStringKey:    jsii.String("unset"),
			ExcludePunctuation:   jsii.Bool(true),
		},
		RemovalPolicy: v.removal(),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(v.SlackSecret, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("Slack issues the bot token and signing secret; they are rotated in Slack's admin UI and written here by an operator (README), so no rotation Lambda can do it."),
	}}, nil)
	v.CursorSecret = v.generatedKey("CursorKey", "HMAC key signing pagination cursors",
		"The cursor key only authenticates pagination cursors (it protects no data); rotating it merely invalidates cursors in flight, so it is rotated by hand (README) rather than by a rotation Lambda.")
	v.ConsoleSecret = v.generatedKey("ConsoleSessionKey", "Console session key, sealing the session and sign-in cookies",
		"Rotating the console's session key signs every person out once containers recycle, so it is rotated by hand (docs/console.md) rather than by a rotation Lambda.")
}

// stage is the $default stage: throttled and access-logged.
func (v *Vsecure) stage() {
	logs := awslogs.NewLogGroup(v.Stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     v.retention(),
		RemovalPolicy: v.removal(),
	})
	t := apiLimits[v.Config.Env].Stage // limits.go
	stage := awsapigatewayv2.NewHttpStage(v.Stack, jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    v.API,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle:   &awsapigatewayv2.ThrottleSettings{RateLimit: jsii.Number(t.Rate), BurstLimit: jsii.Number(t.Burst)},
	})
	// Access log fields: who (principal from the authorizer, never the
	// credential), what, outcome, and why it failed if it did. It is the
	// one line every request writes in prod (the functions log only
	// failures and slow requests: httpapi.API.QuietRequests), so it is
	// compact: no time field (the log event's timestamp is the request's),
	// short names for latency ("ms") and user agent ("ua").
	format := `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
		`"route":"$context.routeKey","status":"$context.status","ms":"$context.responseLatency",` +
		`"principal":"$context.authorizer.principal","authError":"$context.authorizer.error",` +
		`"integrationError":"$context.integrationErrorMessage","ua":"$context.identity.userAgent"}`
	cfn := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfn.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(),
		Format:         jsii.String(format),
	})
}

// authorizer is the REQUEST authorizer in front of every AuthKey route.
//
// API Gateway calls it only when every identity source is present and
// caches its answer per identity-source value. With the cache on, the
// identity source is the Authorization header alone (one required header
// cannot be "Authorization or X-API-Key"), so behind the gateway keys are
// sent as "Authorization: Bearer vsk_..."; X-API-Key alone is refused with
// a 401 before the authorizer runs. authCacheSeconds=0 turns the cache off
// and the identity source with it: both headers then work and a revoked
// key stops at once, at the price of one authorizer call per request.
func (v *Vsecure) authorizer(fn awslambda.Function) awsapigatewayv2.IHttpRouteAuthorizer {
	props := &awsapigatewayv2authorizers.HttpLambdaAuthorizerProps{
		AuthorizerName:  jsii.String("vsecure-api-key"),
		ResponseTypes:   &[]awsapigatewayv2authorizers.HttpLambdaResponseType{awsapigatewayv2authorizers.HttpLambdaResponseType_SIMPLE},
		ResultsCacheTtl: awscdk.Duration_Seconds(jsii.Number(float64(v.Config.AuthCacheSeconds))),
		IdentitySource:  jsii.Strings("$request.header.Authorization"),
	}
	return awsapigatewayv2authorizers.NewHttpLambdaAuthorizer(jsii.String("KeyAuthorizer"), fn, props)
}

// uncachedAuthorizer drops the identity source once the authorizer exists
// (routes create it): with caching off API Gateway then calls the
// authorizer for every request, whichever auth header it carries.
func (v *Vsecure) uncachedAuthorizer() {
	if v.Config.AuthCacheSeconds != 0 {
		return
	}
	if c := v.API.Node().TryFindChild(jsii.String("KeyAuthorizer")); c != nil {
		c.Node().DefaultChild().(awscdk.CfnResource).AddPropertyDeletionOverride(jsii.String("IdentitySource"))
	}
}

// routes creates one function per route table entry (plus the
// authorizer) and one route per entry, then the $default route.
func (v *Vsecure) routes() error {
	authFn, err := v.function(authorizerFunction, "API key and access token authorizer")
	if err != nil {
		return err
	}
	auth := v.authorizer(authFn)
	pages := v.consoleAuthorizer()
	// A function may serve several routes (mcp takes POST, GET and DELETE
	// on one path); it is declared once and its routes share an integration.
	integrations := map[string]awsapigatewayv2.HttpRouteIntegration{}
	for _, r := range httpapi.Routes() {
		integ, ok := integrations[r.Function]
		if !ok {
			if _, dup := v.Functions[r.Function]; dup {
				return fmt.Errorf("route function %s collides with a function of the same name", r.Function)
			}
			fn, err := v.function(r.Function, r.Method+" "+r.Path)
			if err != nil {
				return err
			}
			integ = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(r.Function+"-integration"), fn,
				&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
					PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
				})
			integrations[r.Function] = integ
		}
		opts := &awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.APIGatewayPath()),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integ,
		}
		var why string
		switch r.Auth {
		case httpapi.AuthKey:
			opts.Authorizer = auth
		case httpapi.AuthNone:
			why = "Public by design: the health check and the OpenAPI document are constants and touch no data."
		case httpapi.AuthSlack:
			why = "Slack cannot send an API key; the function verifies X-Slack-Signature (HMAC-SHA256, 5-minute window) before doing anything."
		case httpapi.AuthSession:
			if pages != nil {
				// The edge presents the ID token cookie (edge.go).
				opts.Authorizer = pages
			} else {
				why = "A console page with nobody able to sign in (no OIDC issuer): no session can exist, and the function refuses every request without one."
			}
		case httpapi.AuthSignIn:
			why = "A console sign-in step: it comes before any session or token (it is how a person gets one); the OIDC state cookie, PKCE and nonce guard it."
		default:
			return fmt.Errorf("route %s %s: unknown auth kind %d", r.Method, r.Path, r.Auth)
		}
		routes := v.API.AddRoutes(opts)
		if why != "" {
			for _, rt := range *routes {
				cdknag.NagSuppressions_AddResourceSuppressions(rt, &[]*cdknag.NagPackSuppression{{
					Id: jsii.String("AwsSolutions-APIG4"), Reason: jsii.String(why),
				}}, jsii.Bool(true))
			}
		}
	}
	return v.fallbackRoute()
}

// function declares one Lambda function with its own role, log group and
// alarms' subject.
func (v *Vsecure) function(name, purpose string) (awslambda.Function, error) {
	if _, ok := catalog.Lookup(name); !ok {
		return nil, fmt.Errorf("function %s is not in the function catalog (shared/catalog): add it there, with functions/%s/main.go", name, name)
	}
	spec, ok := functionSpecs[name]
	if !ok {
		return nil, fmt.Errorf("function %s has no entry in functionSpecs (infra/functions.go): give it a size and its store methods", name)
	}
	code, err := v.Config.Code(name)
	if err != nil {
		return nil, err
	}
	s := v.Stack
	id := "Fn-" + name
	role := awsiam.NewRole(s, jsii.String(id+"-role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("vsecure " + v.Config.Env + " " + name + ": exactly what its handler uses"),
	})
	logs := awslogs.NewLogGroup(s, jsii.String(id+"-logs"), &awslogs.LogGroupProps{
		Retention:     v.retention(),
		RemovalPolicy: v.removal(),
	})
	statements, err := v.functionPolicy(spec, logs)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	for _, st := range statements {
		role.AddToPrincipalPolicy(st)
	}
	env := v.environment(name, spec)
	desc := "vsecure " + purpose + " | " + spec.Why
	if len(desc) > 256 {
		desc = desc[:256]
	}
	fn := awslambda.NewFunction(s, jsii.String(id), &awslambda.FunctionProps{
		FunctionName:          jsii.String("vsecure-" + v.Config.Env + "-" + name),
		Description:           jsii.String(desc),
		Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:          awslambda.Architecture_ARM_64(),
		Handler:               jsii.String("bootstrap"),
		Code:                  code,
		MemorySize:            jsii.Number(float64(spec.MemoryMB)),
		Timeout:               awscdk.Duration_Seconds(jsii.Number(float64(spec.TimeoutSeconds))),
		Environment:           &env,
		Role:                  role,
		LogGroup:              logs,
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:      v.systemLogLevel(),
		Tracing:               v.tracing(),
		// limits.go: the expensive functions cannot starve the authorizer.
		ReservedConcurrentExecutions: v.reservedConcurrency(name),
	})
	if v.Config.tracing() {
		// Active tracing adds xray:PutTraceSegments and PutTelemetryRecords
		// on "*" to the role.
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; \"*\" is the only resource AWS accepts for them."),
			AppliesTo: &[]any{jsii.String("Resource::*")},
		}}, jsii.Bool(true))
	}
	if spec.Digest.checks() {
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("One object per sealed digest under digests/ of the witness bucket; the prefix is the narrowest resource."),
			AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<AuditWitness[0-9A-F]+\.Arn>\/digests\/\*$/g`)}},
		}, {
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("One locked object per archived hour under archive/ of the witness bucket; the prefix is the narrowest resource."),
			AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<AuditWitness[0-9A-F]+\.Arn>\/archive\/\*$/g`)}},
		}}, jsii.Bool(true))
	}
	v.Functions[name] = fn
	return fn, nil
}

// environment is a function's configuration: table names, and the ARNs of
// exactly the secrets and key it is allowed to use.
func (v *Vsecure) environment(name string, spec functionSpec) map[string]*string {
	env := map[string]*string{"VSECURE_ENV": jsii.String(v.Config.Env)}
	if humanFunction(name) {
		maps.Copy(env, v.oidcEnv)
	}
	if spec.SignIn && v.oidcEnv != nil {
		maps.Copy(env, v.oidcEnv)
		env["VSECURE_OIDC_REDIRECT_URL"] = jsii.String(*v.publicURL() + consoleCallbackPath)
	}
	if len(spec.Store) == 0 {
		return env
	}
	for tn, t := range v.Tables {
		env[tableEnv(tn)] = t.TableName()
	}
	env["VSECURE_PUBLIC_URL"] = v.publicURL()
	if spec.Sealer != sealNone {
		env["VSECURE_KMS_KEY_ARN"] = v.Key.KeyArn()
	}
	if spec.Cursor {
		env["VSECURE_CURSOR_SECRET_ARN"] = v.CursorSecret.SecretArn()
	}
	if spec.Console {
		env["VSECURE_CONSOLE_SESSION_SECRET_ARN"] = v.ConsoleSecret.SecretArn()
		if v.Edge != nil {
			env["VSECURE_CONSOLE_GATEWAY_JWT"] = jsii.String("1")
		}
	}
	if spec.Slack {
		env["VSECURE_SLACK_SECRET_ARN"] = v.SlackSecret.SecretArn()
		env["VSECURE_SLACK_CHANNEL"] = jsii.String(v.Config.SlackChannel)
	}
	if len(spec.Workflow) > 0 {
		// Built from the name, not a reference: workflow-notify is invoked
		// by the state machine, so a reference would be a cycle.
		env["VSECURE_STATE_MACHINE_ARN"] = StateMachineArn(v.Stack, v.stateMachineName())
	}
	if spec.Digest != digestNone {
		env["VSECURE_AUDIT_SIGNING_KEY_ARN"] = v.SigningKey.KeyArn()
	}
	v.auditEnvironment(spec, env)
	v.archiveEnvironment(spec, env)
	return env
}

// stateMachineName is the approval state machine's name.
func (v *Vsecure) stateMachineName() string { return "vsecure-" + v.Config.Env + "-approvals" }

// workflow declares the approval workflow's task functions and the state
// machine that runs them, and grants every function exactly the Step
// Functions calls its spec lists.
func (v *Vsecure) workflow() error {
	tasks := map[string]awslambda.IFunction{}
	for _, t := range []struct{ name, purpose string }{
		{notifyFunction, "approval workflow Notify task (stores the task token, announces the request)"},
		{expireFunction, "approval workflow Expire task (pending → expired at the ttl)"},
		{revokeFunction, "approval workflow Revoke task (approved → expired at expiresAt)"},
	} {
		fn, err := v.function(t.name, t.purpose)
		if err != nil {
			return err
		}
		tasks[t.name] = fn
	}
	v.Workflow = NewApprovalWorkflow(v.Stack, "ApprovalWorkflow", ApprovalWorkflowProps{
		Notify: tasks[notifyFunction], Expire: tasks[expireFunction], Revoke: tasks[revokeFunction],
		AlarmTopic: v.AlarmTopic, LogRetention: v.retention(), RemovalPolicy: v.removal(), Name: v.stateMachineName(),
	})
	names := make([]string, 0, len(v.Functions))
	for n := range v.Functions {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if calls := functionSpecs[n].Workflow; len(calls) > 0 {
			if err := v.Workflow.Grant(v.Functions[n], calls...); err != nil {
				return fmt.Errorf("function %s: %w", n, err)
			}
		}
	}
	return nil
}

// functionPolicy is every permission of a function, statement by
// statement; the stack tests compare them with an exact expectation.
func (v *Vsecure) functionPolicy(spec functionSpec, logs awslogs.LogGroup) ([]awsiam.PolicyStatement, error) {
	out := []awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("OwnLogGroup"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: &[]*string{logs.LogGroupArn()},
	})}
	dyn, err := dynamoStatements(spec.Store)
	if err != nil {
		return nil, err
	}
	for i, d := range dyn {
		res := make([]*string, 0, len(d.On))
		for _, t := range d.On {
			arn := v.Tables[t.Table].TableArn()
			if t.Index != "" {
				arn = jsii.String(*arn + "/index/" + t.Index)
			}
			res = append(res, arn)
		}
		props := &awsiam.PolicyStatementProps{
			Sid:       jsii.String(fmt.Sprintf("DynamoDB%d", i)),
			Actions:   jsii.Strings(d.Actions...),
			Resources: &res,
		}
		if c := d.Only.conditions(); c != nil {
			props.Conditions = &c
		}
		out = append(out, awsiam.NewPolicyStatement(props))
	}
	if writesKeyItemsDenied(spec.Store) {
		// Whatever its other grants, this function cannot write an API
		// key's items: minting or changing a key is the key-management
		// functions' alone (the internet-facing mcp function included).
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:    jsii.String("NoKeyItems"),
			Effect: awsiam.Effect_DENY,
			Actions: jsii.Strings("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
				"dynamodb:ConditionCheckItem", "dynamodb:BatchWriteItem"),
			Resources: &[]*string{v.Tables[stateT].TableArn()},
			Conditions: &map[string]any{"ForAnyValue:StringLike": map[string]any{
				"dynamodb:LeadingKeys": []string{schema.KeyPrefix + "*", schema.KeyHashPrefix + "*"},
			}},
		}))
	}
	if spec.Sealer != sealNone {
		actions := map[sealerUse][]string{
			sealOpen: {"kms:Decrypt"}, sealSeal: {"kms:GenerateDataKey"}, sealBoth: {"kms:Decrypt", "kms:GenerateDataKey"},
		}[spec.Sealer]
		// Data keys only, and only for a secret version: the envelope
		// binds {uri, version} as encryption context, so a call with any
		// other context (or none) is refused.
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("SecretDataKeys"),
			Actions:   jsii.Strings(actions...),
			Resources: &[]*string{v.Key.KeyArn()},
			Conditions: &map[string]any{
				"ForAllValues:StringEquals": map[string]any{"kms:EncryptionContextKeys": []string{"uri", "version"}},
				"Null":                      map[string]any{"kms:EncryptionContextKeys": "false"},
				"StringLike":                map[string]any{"kms:EncryptionContext:uri": "vsecure://*"},
			},
		}))
	}
	if spec.Digest != digestNone {
		action := map[digestUse]string{digestSign: "kms:Sign", digestVerify: "kms:GetPublicKey", digestPublicKey: "kms:GetPublicKey"}[spec.Digest]
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AuditDigestKey"),
			Actions:   jsii.Strings(action),
			Resources: &[]*string{v.SigningKey.KeyArn()},
		}))
	}
	out = append(out, v.auditStatements(spec)...)
	out = append(out, v.archiveStatements(spec)...)
	var secrets []*string
	if spec.Cursor {
		secrets = append(secrets, v.CursorSecret.SecretArn())
	}
	if spec.Slack {
		secrets = append(secrets, v.SlackSecret.SecretArn())
	}
	if spec.Console {
		secrets = append(secrets, v.ConsoleSecret.SecretArn())
	}
	if len(secrets) > 0 {
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadSecrets"),
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: &secrets,
		}))
	}
	return out, nil
}

// outputs are what an operator needs after deploy (README).
func (v *Vsecure) outputs() {
	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(v.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	api := *v.API.ApiEndpoint()
	out("ApiUrl", api, "Base URL of the vsecure API")
	for _, r := range httpapi.Routes() {
		if r.Function == "mcp" {
			out("McpUrl", api+r.Path, "Remote MCP (Streamable HTTP) endpoint")
			break
		}
	}
	out("StateMachineArn", *v.Workflow.Arn, "Approval workflow (one execution per approval, named after its id)")
	names := make([]string, 0, len(v.Tables))
	for n := range v.Tables {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		out(tableID(n)+"Name", *v.Tables[n].TableName(), "DynamoDB table "+n)
	}
	out("SlackSecretArn", *v.SlackSecret.SecretArn(), "Fill with the Slack bot token and signing secret (README)")
	out("AlarmTopicArn", *v.AlarmTopic.TopicArn(), "Alarm notifications")
	out("KeyArn", *v.Key.KeyArn(), "KMS key of tables and secret data keys")
	out("AuditWitnessBucket", *v.WitnessBucket.BucketName(), "S3 bucket (Object Lock, COMPLIANCE) holding a locked witness record of every sealed audit digest")
	out("AuditMacKeyArn", *v.AuditMACKey.KeyArn(), "KMS key wrapping the audit log's per-epoch MAC keys")
	out("AuditSigningKeyArn", *v.SigningKey.KeyArn(), "KMS key signing audit digests (vsecure audit:verify checks them with its public key)")
}

// generatedKey is a secret of 64 random letters and digits that the stack
// generates and nobody writes (a key of the stack's own), rotated by hand
// for the reason given to cdk-nag.
func (v *Vsecure) generatedKey(id, what, whyNoRotation string) awssecretsmanager.Secret {
	s := awssecretsmanager.NewSecret(v.Stack, jsii.String(id), &awssecretsmanager.SecretProps{
		Description: jsii.String("vsecure " + v.Config.Env + ": " + what),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: v.removal(),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(s, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String(whyNoRotation),
	}}, nil)
	return s
}
