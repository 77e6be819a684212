package lambdafn

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretReader is the part of the Secrets Manager client a Secret needs
// (*secretsmanager.Client satisfies it).
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// NewSecretsClient is the container's Secrets Manager client over the
// runtime's credentials (see Open for why not LoadDefaultConfig).
func NewSecretsClient(cfg Config) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(aws.Config{
		Region:      cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken),
	}, func(o *secretsmanager.Options) {
		o.RetryMaxAttempts = 3
		if cfg.SecretsEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.SecretsEndpoint)
		}
	})
}

// Secret is a Secrets Manager secret read on first use, never at init (a
// cold start makes no network call before it has to), and kept for the
// container's life. A failed read or a value Parse refuses is not kept, so
// the next call retries. Rotating the secret takes effect as containers
// recycle.
type Secret[T any] struct {
	Client SecretReader
	ARN    string
	// Name says which secret in errors ("the Slack secret").
	Name string
	// Parse checks and decodes the value (SecretString, else
	// SecretBinary). Its errors must say what is wrong, never echo it.
	Parse func(value []byte) (T, error)

	mu  sync.Mutex
	ok  bool
	val T
}

// Get returns the secret's parsed value.
func (s *Secret[T]) Get(ctx context.Context) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ok {
		return s.val, nil
	}
	var zero T
	if s.Client == nil {
		return zero, fmt.Errorf("reading %s: no Secrets Manager client", s.Name)
	}
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.ARN)})
	if err != nil {
		return zero, fmt.Errorf("reading %s: %w", s.Name, err)
	}
	raw := out.SecretBinary
	if out.SecretString != nil {
		raw = []byte(*out.SecretString)
	}
	v, err := s.Parse(raw)
	if err != nil {
		return zero, err
	}
	s.val, s.ok = v, true
	return v, nil
}

// SecretCursorKey is the cursor-signing key kept in Secrets Manager (the
// stack generates it: 64 alphanumeric characters, used as they are),
// fetched on the first call that paginates. Rotating the secret
// invalidates cursors in flight once containers recycle.
type SecretCursorKey struct{ secret Secret[[]byte] }

// NewSecretCursorKey reads the cursor key from the secret arn.
func NewSecretCursorKey(client SecretReader, arn string) *SecretCursorKey {
	return &SecretCursorKey{secret: Secret[[]byte]{Client: client, ARN: arn, Name: "the cursor key secret", Parse: func(k []byte) ([]byte, error) {
		if len(k) < 32 {
			return nil, errors.New("the cursor key secret holds fewer than 32 bytes")
		}
		return k, nil
	}}}
}

// CursorKey implements gate.CursorKeySource.
func (k *SecretCursorKey) CursorKey(ctx context.Context) ([]byte, error) { return k.secret.Get(ctx) }
