package s3lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/digest"
)

// client is an S3 client for the real S3 implementation .ci/emulators.sh
// starts (versitygw, posix backend, Object Lock enabled). Without it the
// tests fail: a skipped lock test proves nothing.
func client(t *testing.T) *s3.Client {
	t.Helper()
	ep := os.Getenv("VSECURE_TEST_S3_ENDPOINT")
	if ep == "" {
		t.Fatal("VSECURE_TEST_S3_ENDPOINT is not set: run the tests with `.ci/emulators.sh run go test ./...`, which starts versitygw")
	}
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ep),
		UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(
			os.Getenv("VSECURE_TEST_S3_ACCESS_KEY"), os.Getenv("VSECURE_TEST_S3_SECRET_KEY"), ""),
	})
}

// lockedBucket creates a fresh bucket with Object Lock (and so versioning)
// enabled, as the stack does.
func lockedBucket(t *testing.T, c *s3.Client) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "witness-" + hex.EncodeToString(b)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{
		Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	return name
}

func record(i int) digest.WitnessRecord {
	from := time.Date(2026, 5, 1, 10, i, 0, 0, time.UTC)
	return digest.WitnessRecord{DigestFrom: from, DigestTo: from.Add(time.Minute),
		DigestHash: strings.Repeat("0", 63) + string(rune('a'+i)), At: from.Add(90 * time.Second)}
}

func TestAppendListReadBack(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	bucket := lockedBucket(t, c)
	now := time.Now()
	w, err := New(c, bucket, WithRetention(time.Hour), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 0, 1} {
		if err := w.Append(ctx, record(i)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.Records(ctx)
	if err != nil || len(got) != 3 {
		t.Fatalf("Records = %+v, %v; want 3", got, err)
	}
	for i, r := range got {
		if want := record(i); !r.DigestFrom.Equal(want.DigestFrom) || !r.DigestTo.Equal(want.DigestTo) || r.DigestHash != want.DigestHash {
			t.Errorf("record %d = %+v; want %+v", i, r, want)
		}
	}
	// Each object is locked in COMPLIANCE mode until now + retention.
	ret, err := c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(bucket), Key: aws.String(DigestKey(record(0).DigestFrom))})
	if err != nil {
		t.Fatal(err)
	}
	// (S3 keeps the date to the second.)
	if ret.Retention.Mode != types.ObjectLockRetentionModeCompliance || aws.ToTime(ret.Retention.RetainUntilDate).Sub(now.Add(time.Hour)).Abs() > time.Second {
		t.Fatalf("retention %v until %v; want COMPLIANCE until %v", ret.Retention.Mode, aws.ToTime(ret.Retention.RetainUntilDate), now.Add(time.Hour))
	}
	// A retried append of the same record is fine; a different record for
	// the same window is refused and the first one stays.
	if err := w.Append(ctx, record(1)); err != nil {
		t.Fatalf("retried append: %v", err)
	}
	forged := record(1)
	forged.DigestHash = strings.Repeat("f", 64)
	if err := w.Append(ctx, forged); err == nil {
		t.Fatal("Append over an existing window's record: no error")
	}
	if got, _ := w.Records(ctx); len(got) != 3 || got[1].DigestHash != record(1).DigestHash {
		t.Fatalf("after a refused overwrite: %+v", got)
	}
}

// TestLockedVersionCannotBeRemoved is the point of the bucket: whoever
// holds write access (here, the same credentials that wrote it) cannot
// delete the locked version, shorten its retention, or bypass the lock.
func TestLockedVersionCannotBeRemoved(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	bucket := lockedBucket(t, c)
	w, err := New(c, bucket, WithRetention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := record(0)
	if err := w.Append(ctx, r); err != nil {
		t.Fatal(err)
	}
	key := aws.String(DigestKey(r.DigestFrom))
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	version := head.VersionId
	if aws.ToString(version) == "" {
		t.Fatal("locked object has no version id")
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key, VersionId: version}); !refused(err) {
		t.Fatalf("DeleteObject of the locked version: %v; want AccessDenied", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key, VersionId: version,
		BypassGovernanceRetention: aws.Bool(true)}); !refused(err) {
		t.Fatalf("DeleteObject bypassing governance of a COMPLIANCE version: %v; want AccessDenied", err)
	}
	if _, err := c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(bucket), Key: key, VersionId: version,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(time.Now().Add(time.Minute))}}); !refused(err) {
		t.Fatalf("shortening a COMPLIANCE retention: %v; want AccessDenied", err)
	}
	// An unconditional overwrite (not Append: it refuses) and a plain
	// delete only stack a new version or a delete marker on top: the
	// locked version is still there, byte for byte.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: key, Body: strings.NewReader(`{"forged":true}`),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil && !refused(err) {
		t.Fatalf("overwrite: %v", err)
	}
	c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key})
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: key, VersionId: version})
	if err != nil {
		t.Fatalf("locked version after overwrite and delete: %v", err)
	}
	out.Body.Close()
	if aws.ToString(out.VersionId) != aws.ToString(version) {
		t.Fatalf("got version %q; want %q", aws.ToString(out.VersionId), aws.ToString(version))
	}
}

func refused(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied"
}

// The archive's objects are write-once and locked: a second Put of other
// bytes is refused, deleting the version is refused, and the newest key is
// found by descending the prefixes.
func TestArchiveObjectsAreWriteOnceLockedAndFound(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	bucket := lockedBucket(t, c)
	a, err := NewArchive(c, bucket, WithRetention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if last, err := a.Last(ctx); err != nil || last != "" {
		t.Fatalf("empty archive: Last = %q, %v", last, err)
	}
	h := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	keys := []string{archive.Key(h, h.Add(time.Hour)), archive.Key(h.Add(time.Hour), h.Add(90*time.Minute)),
		archive.Key(h.Add(90*time.Minute), h.Add(26*time.Hour))}
	for i, k := range keys {
		if err := a.Put(ctx, k, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Put(ctx, keys[1], []byte{1}); err != nil {
		t.Fatalf("retried put: %v", err)
	}
	if err := a.Put(ctx, keys[1], []byte("other")); !errors.Is(err, archive.ErrDiffers) {
		t.Fatalf("overwrite: %v, want ErrDiffers", err)
	}
	if b, err := a.Get(ctx, keys[1]); err != nil || len(b) != 1 || b[0] != 1 {
		t.Fatalf("Get = %v, %v", b, err)
	}
	if _, err := a.Get(ctx, archive.Key(h, h.Add(time.Minute))); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("absent key: %v", err)
	}
	if last, err := a.Last(ctx); err != nil || last != keys[2] {
		t.Fatalf("Last = %q, %v; want %q", last, err, keys[2])
	}
	if got, err := a.Keys(ctx, h.Add(time.Hour), h.Add(2*time.Hour)); err != nil || len(got) != 2 || got[0] != keys[1] {
		t.Fatalf("Keys = %q, %v", got, err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[0])})
	if err != nil || head.ObjectLockMode != types.ObjectLockModeCompliance {
		t.Fatalf("HeadObject: %v, lock mode %q", err, head.ObjectLockMode)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[0]), VersionId: head.VersionId}); err == nil {
		t.Fatal("a locked archive version was deleted")
	}
}
