package lambdafn

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretReader is the part of the Secrets Manager client the cursor key
// needs (*secretsmanager.Client satisfies it).
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretCursorKey is the cursor-signing key kept in Secrets Manager (the
// stack generates it: 64 alphanumeric characters, used as they are). It is
// fetched on the first call that paginates, never at init, and kept for the
// container's life; a failed fetch is not kept, so the next call retries.
// Rotating the secret invalidates cursors in flight once containers recycle.
type SecretCursorKey struct {
	Client SecretReader
	ARN    string

	mu  sync.Mutex
	key []byte
}

// CursorKey implements gate.CursorKeySource.
func (s *SecretCursorKey) CursorKey(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.ARN)})
	if err != nil {
		return nil, fmt.Errorf("reading the cursor key secret: %w", err)
	}
	var k []byte
	switch {
	case out.SecretString != nil:
		k = []byte(*out.SecretString)
	default:
		k = out.SecretBinary
	}
	if len(k) < 32 {
		// Never echo the value: say only what is wrong with it.
		return nil, errors.New("the cursor key secret holds fewer than 32 bytes")
	}
	s.key = k
	return k, nil
}
