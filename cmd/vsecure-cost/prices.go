package main

// Prices: AWS public on-demand list prices, us-east-1, as published on
// aws.amazon.com/<service>/pricing (API Gateway HTTP APIs, Lambda arm64,
// DynamoDB on-demand, KMS, CloudWatch, X-Ray, Step Functions, Secrets
// Manager). Free tiers are ignored. Check them against the pages before
// quoting a number.
const (
	priceHTTPAPIPerRequest    = 1.00 / 1e6   // HTTP API, first 300M requests/month
	priceLambdaPerRequest     = 0.20 / 1e6   // Lambda requests
	priceLambdaPerGBs         = 0.0000133334 // Lambda arm64 duration
	priceWRU                  = 0.625 / 1e6  // DynamoDB on-demand write request unit
	priceRRU                  = 0.125 / 1e6  // DynamoDB on-demand read request unit
	priceKMSPerRequest        = 0.03 / 1e4   // KMS symmetric requests
	priceKMSKeyMonth          = 1.00         // KMS customer managed key
	priceLogsPerGB            = 0.50         // CloudWatch Logs ingestion (standard class)
	priceLogsStorageGBMonth   = 0.03         // CloudWatch Logs storage
	priceAlarmMonth           = 0.10         // CloudWatch standard-resolution metric alarm
	priceXRayPerTrace         = 5.00 / 1e6   // X-Ray traces recorded
	priceSFNPerTransition     = 0.025 / 1000 // Step Functions Standard state transition
	priceSecretsPerCall       = 0.05 / 1e4   // Secrets Manager API calls (comparison)
	priceSecretMonth          = 0.40         // Secrets Manager secret
	priceS3StorageGBMonth     = 0.023        // S3 Standard storage
	priceDynamoStorageGBMonth = 0.25         // DynamoDB Standard table storage
)

// Assumptions of the per-request model, named so the table states them.
const (
	// dataKeyCacheHit: warm containers reuse an unwrapped data key
	// (kms.WithDataKeyCache); the budget is stated at 90 %.
	dataKeyCacheHit = 0.90
	// authorizerCacheHit: API Gateway caches the authorizer's answer per
	// Authorization header for AuthCacheSeconds; an agent that reuses its
	// key and calls at least every few seconds hits it almost always. 90 %
	// is a conservative figure for a mix of busy and sparse agents.
	authorizerCacheHit = 0.90
	// xraySampled: the default sampling rule records the first request
	// each second and 5 % of the rest; at sustained load that is ≈ 5 %.
	xraySampled = 0.05
	// approvalStatusPolls: an agent polls an approval's status about twice
	// before the decision lands.
	approvalStatusPolls = 2
	// indexRunsPerMonth: the audit-index rule fires every minute (30 days).
	indexRunsPerMonth = 43200
	// indexIdleRunSeconds: an audit-index run on an idle table ends after
	// its first pass that indexes nothing (auditindex.Loop.UntilIdle): one
	// pass of a few parallel Queries, billed here as a whole second, an
	// upper bound that also covers a cold start.
	indexIdleRunSeconds = 1
	// indexLogBytesPerRun: the run's one summary line (EMF, ≈ 500 B) and
	// Lambda's platform lines where kept; not measured, a bound.
	indexLogBytesPerRun = 1000
)
