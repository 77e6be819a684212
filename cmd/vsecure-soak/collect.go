package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/vsecure/vsecure/cmd/vsecure-soak/invariant"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/crypto/kms"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/digest/witnessfile"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// collect reads, as the admin and through the API, the whole audit log,
// every approval and every secret head, and runs audit:verify.
func collect(w *world) (invariant.Input, error) {
	var in invariant.Input
	if err := pages(w, "audit", "/v1/security/mcp/audit", func(p *auditPage) string {
		in.Audit = append(in.Audit, p.Logs...)
		return next(p.Pagination)
	}); err != nil {
		return in, err
	}
	if err := pages(w, "list", "/v1/security/mcp/approvals", func(p *approvalPage) string {
		in.Approvals = append(in.Approvals, p.Data...)
		return next(p.Pagination)
	}); err != nil {
		return in, err
	}
	if err := pages(w, "list", "/v1/security/mcp/secrets", func(p *secretPage) string {
		in.Secrets = append(in.Secrets, p.Secrets...)
		return next(p.Pagination)
	}); err != nil {
		return in, err
	}
	var r digest.Report
	op := w.admin.do(invariant.Op{Kind: "verify"}, "GET", "/v1/security/mcp/audit/verify", w.adminKey, nil, &r)
	if op.Outcome() != "ok" {
		in.VerifyErr = append(in.VerifyErr, fmt.Sprintf("GET /v1/security/mcp/audit/verify: %d %s", op.Status, op.Code))
	} else {
		in.Verify = append(in.Verify, r)
	}
	return in, nil
}

type auditPage struct {
	Logs       []vsecure.Entry `json:"logs"`
	Pagination api.Pagination  `json:"pagination"`
}
type approvalPage struct {
	Data       []api.ApprovalView `json:"data"`
	Pagination api.Pagination     `json:"pagination"`
}
type secretPage struct {
	Secrets    []api.SecretInfo `json:"secrets"`
	Pagination api.Pagination   `json:"pagination"`
}

func next(p api.Pagination) string {
	if !p.HasMore {
		return ""
	}
	return p.Cursor
}

// pages follows cursors to the end, retrying a page that failed.
func pages[P any](w *world, kind, path string, use func(*P) string) error {
	cursor := ""
	for {
		q := url.Values{"limit": {"200"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p P
		ok := false
		for try := 0; try < 10 && !ok; try++ {
			op := w.admin.do(invariant.Op{Kind: kind}, "GET", path+"?"+q.Encode(), w.adminKey, nil, &p)
			ok = op.Outcome() == "ok"
			if !ok {
				time.Sleep(200 * time.Millisecond)
			}
		}
		if !ok {
			return fmt.Errorf("listing %s failed 10 times", path)
		}
		if cursor = use(&p); cursor == "" {
			return nil
		}
	}
}

// verifyOffline seals every window of the run, as the server would a few
// minutes from now, with the server's own keys (signing key, MAC keys,
// witness file: those of the keys directory, or the KMS MAC key the
// emulators name), and verifies the whole chain: a run this short leaves
// its last windows unsealed. The server is stopped.
func verifyOffline(ctx context.Context, c config, data string, tables [2]string) (digest.Report, error) {
	var store vsecure.AuditDigests
	keysDir := devserver.DefaultKeysDir(data)
	macKeys, err := local.LoadMACKeys(keysDir)
	if err != nil {
		return digest.Report{}, err
	}
	var keys auditlog.MACKeys = macKeys
	if c.store == "dynamodb" {
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
		if err != nil {
			return digest.Report{}, err
		}
		db := dynamodb.NewFromConfig(cfg, dynamo.ClientOptions, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(c.dynamoEndpoint) })
		s, err := dynamo.New(db, tables[0], tables[1])
		if err != nil {
			return digest.Report{}, err
		}
		store = s
		// `vsecure dev` got the same environment: with this set its
		// store's epochs are wrapped by KMS.
		if id := os.Getenv("VSECURE_AUDIT_MAC_KEY_ID"); id != "" {
			if keys, err = kms.NewMACKeys(awskms.NewFromConfig(cfg), id); err != nil {
				return digest.Report{}, err
			}
		}
	} else {
		s, err := embedded.Open(filepath.Join(data, "vsecure.db"))
		if err != nil {
			return digest.Report{}, err
		}
		defer s.Close()
		store = s
	}
	signer, err := local.LoadSigner(keysDir)
	if err != nil {
		return digest.Report{}, err
	}
	witness, err := witnessfile.Open(filepath.Join(keysDir, witnessfile.Name))
	if err != nil {
		return digest.Report{}, err
	}
	defer witness.Close()
	later := func() time.Time { return time.Now().Add(digest.DefaultWindow + digest.DefaultGrace + time.Minute) }
	cfg := digest.Config{Store: store, Signer: signer, MACKeys: keys, Witness: witness, Now: later}
	s, err := digest.NewSealer(cfg)
	if err != nil {
		return digest.Report{}, err
	}
	for {
		ds, err := s.Seal(ctx)
		if err != nil {
			return digest.Report{}, fmt.Errorf("seal: %w", err)
		}
		if len(ds) == 0 {
			break
		}
	}
	v, err := digest.NewVerifier(cfg)
	if err != nil {
		return digest.Report{}, err
	}
	return v.Verify(ctx, time.Time{}, time.Time{})
}
