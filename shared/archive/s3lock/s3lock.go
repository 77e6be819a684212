// Package s3lock is the audit log's witness and archive in AWS: an S3
// bucket with Object Lock in COMPLIANCE mode (created by the stack). Each
// sealed digest's witness record is written as its own object
// digests/<from>.json with a retention date, so until that date no one —
// not the functions, not the account's root — can delete or overwrite
// that version. Deleting the newest digests from the audit table then
// leaves their witness objects behind, and the verifier names the gap.
package s3lock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/vsecure/vsecure/shared/digest"
)

// DigestPrefix is where witness records of digests live in the bucket.
const DigestPrefix = "digests/"

// DefaultRetention is how long a witness object is locked when the
// caller does not say (the stack's prod default retention).
const DefaultRetention = 400 * 24 * time.Hour

// Witness writes and reads witness records in one Object Lock bucket.
type Witness struct {
	client    *s3.Client
	bucket    string
	retention time.Duration
	now       func() time.Time
}

var _ digest.Witness = (*Witness)(nil)

// Option adjusts a Witness.
type Option func(*Witness)

// WithRetention sets how long each object is locked (COMPLIANCE mode).
func WithRetention(d time.Duration) Option { return func(w *Witness) { w.retention = d } }

// WithClock sets the clock the retention date is counted from.
func WithClock(now func() time.Time) Option { return func(w *Witness) { w.now = now } }

// New returns the witness over bucket. It makes no call.
func New(client *s3.Client, bucket string, opts ...Option) (*Witness, error) {
	if client == nil || bucket == "" {
		return nil, errors.New("s3lock: client and bucket are required")
	}
	w := &Witness{client: client, bucket: bucket, retention: DefaultRetention, now: time.Now}
	for _, o := range opts {
		o(w)
	}
	if w.retention <= 0 {
		return nil, errors.New("s3lock: retention must be positive")
	}
	return w, nil
}

// DigestKey is the object key of the witness record of the digest that
// starts at from.
func DigestKey(from time.Time) string {
	return DigestPrefix + from.UTC().Format(time.RFC3339Nano) + ".json"
}

// Append writes r as digests/<from>.json, locked in COMPLIANCE mode until
// now + retention, with a SHA-256 checksum S3 verifies on receipt. It
// never replaces an object (If-None-Match: *): a second record for the
// same window is refused unless it is byte-for-byte the one stored (a
// retried append).
func (w *Witness) Append(ctx context.Context, r digest.WitnessRecord) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("s3lock: %w", err)
	}
	key := DigestKey(r.DigestFrom)
	_, err = w.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                    aws.String(w.bucket),
		Key:                       aws.String(key),
		Body:                      bytes.NewReader(body),
		ContentType:               aws.String("application/json"),
		ChecksumAlgorithm:         types.ChecksumAlgorithmSha256,
		IfNoneMatch:               aws.String("*"),
		ObjectLockMode:            types.ObjectLockModeCompliance,
		ObjectLockRetainUntilDate: aws.Time(w.now().Add(w.retention).UTC()),
	})
	if err == nil {
		return nil
	}
	if !preconditionFailed(err) {
		return fmt.Errorf("s3lock: put %s: %w", key, err)
	}
	old, gerr := w.get(ctx, key)
	if gerr != nil {
		return fmt.Errorf("s3lock: %s exists and cannot be read: %w", key, gerr)
	}
	if !bytes.Equal(old, body) {
		return fmt.Errorf("s3lock: %s already holds a different witness record", key)
	}
	return nil
}

func preconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}

func (w *Witness) get(ctx context.Context, key string) ([]byte, error) {
	out, err := w.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(w.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// Records lists digests/ and reads every record (the current version of
// each key), ordered by the digest's start.
func (w *Witness) Records(ctx context.Context) ([]digest.WitnessRecord, error) {
	var out []digest.WitnessRecord
	p := s3.NewListObjectsV2Paginator(w.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(w.bucket), Prefix: aws.String(DigestPrefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3lock: list %s: %w", DigestPrefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !strings.HasSuffix(key, ".json") {
				continue
			}
			b, err := w.get(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("s3lock: get %s: %w", key, err)
			}
			var r digest.WitnessRecord
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("s3lock: %s is not a witness record: %w", key, err)
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b digest.WitnessRecord) int { return a.DigestFrom.Compare(b.DigestFrom) })
	return out, nil
}
