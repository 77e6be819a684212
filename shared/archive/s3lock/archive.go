package s3lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vsecure/vsecure/shared/archive"
)

// DefaultArchiveRetention is how long an archive object is locked when the
// caller does not say: seven years, a common audit-record retention.
const DefaultArchiveRetention = 7 * 365 * 24 * time.Hour

// Archive is the audit archive (package archive) in the Object Lock
// bucket: each object under archive/ is written once, locked in
// COMPLIANCE mode for the archive retention.
type Archive struct {
	client    *s3.Client
	bucket    string
	retention time.Duration
	now       func() time.Time
}

var _ archive.Bucket = (*Archive)(nil)

// NewArchive returns the archive in bucket; opts are the Witness's
// (WithRetention, default DefaultArchiveRetention; WithClock).
func NewArchive(client *s3.Client, bucket string, opts ...Option) (*Archive, error) {
	w, err := New(client, bucket, append([]Option{WithRetention(DefaultArchiveRetention)}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Archive{client: w.client, bucket: w.bucket, retention: w.retention, now: w.now}, nil
}

// Put writes body under key, locked until now + retention, never
// replacing an object (If-None-Match: *): a retried Put of the same bytes
// succeeds, other bytes are archive.ErrDiffers.
func (a *Archive) Put(ctx context.Context, key string, body []byte) error {
	_, err := a.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                    aws.String(a.bucket),
		Key:                       aws.String(key),
		Body:                      bytes.NewReader(body),
		ContentType:               aws.String("application/x-ndjson"),
		ContentEncoding:           aws.String("gzip"),
		ChecksumAlgorithm:         types.ChecksumAlgorithmSha256,
		IfNoneMatch:               aws.String("*"),
		ObjectLockMode:            types.ObjectLockModeCompliance,
		ObjectLockRetainUntilDate: aws.Time(a.now().Add(a.retention).UTC()),
	})
	if err == nil {
		return nil
	}
	if !preconditionFailed(err) {
		return fmt.Errorf("s3lock: put %s: %w", key, err)
	}
	old, err := a.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("s3lock: %s exists and cannot be read: %w", key, err)
	}
	if !bytes.Equal(old, body) {
		return fmt.Errorf("s3lock: %s: %w", key, archive.ErrDiffers)
	}
	return nil
}

// Get reads the object under key.
func (a *Archive) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := (&Witness{client: a.client, bucket: a.bucket}).get(ctx, key)
	var nk *types.NoSuchKey
	if errors.As(err, &nk) {
		return nil, fmt.Errorf("%s: %w", key, archive.ErrNotFound)
	}
	return b, err
}

// Last finds the newest key by descending the year/month/day/hour
// prefixes (five small LISTs), not by listing years of objects.
func (a *Archive) Last(ctx context.Context) (string, error) {
	prefix := archive.Prefix
	for {
		var last, lastKey string
		p := s3.NewListObjectsV2Paginator(a.client, &s3.ListObjectsV2Input{
			Bucket: aws.String(a.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return "", fmt.Errorf("s3lock: list %s: %w", prefix, err)
			}
			for _, cp := range page.CommonPrefixes {
				last = max(last, aws.ToString(cp.Prefix))
			}
			for _, o := range page.Contents {
				if k := aws.ToString(o.Key); strings.HasSuffix(k, archive.Suffix) {
					lastKey = max(lastKey, k)
				}
			}
		}
		if last == "" {
			return lastKey, nil
		}
		prefix = last
	}
}

// Keys lists the objects that may hold digests starting in [from, to):
// those under the hours from from's to to's.
func (a *Archive) Keys(ctx context.Context, from, to time.Time) ([]string, error) {
	start := archive.Prefix + from.UTC().Format("2006/01/02/15/")
	var out []string
	p := s3.NewListObjectsV2Paginator(a.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(a.bucket), Prefix: aws.String(archive.Prefix), StartAfter: aws.String(start),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3lock: list %s: %w", archive.Prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			f, t, err := archive.ParseKey(k)
			if err != nil {
				continue
			}
			if !f.Before(to) {
				return out, nil
			}
			if t.After(from) {
				out = append(out, k)
			}
		}
	}
	return out, nil
}
