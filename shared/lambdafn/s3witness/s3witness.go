// Package s3witness opens the audit witness and archive on the deployment's
// S3 Object Lock bucket for the two functions that seal or verify the audit
// log (audit-digest, audit-verify). It is its own package so that only their
// bootstraps link the S3 client: it is ≈ 0.8 MB of a binary, and every
// function's bootstrap stays within 12 MB (make bench-lambda).
package s3witness

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/archive/s3lock"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/lambdafn"
)

// Open is a lambdafn.Buckets: the witness of digests and the archive of
// sealed hours, both on cfg.WitnessBucket, locked for their configured
// retentions (s3lock's defaults when 0).
func Open(ac aws.Config, cfg lambdafn.Config) (digest.Witness, archive.Bucket, error) {
	var opts []s3lock.Option
	if cfg.WitnessRetentionDays > 0 {
		opts = append(opts, s3lock.WithRetention(time.Duration(cfg.WitnessRetentionDays)*24*time.Hour))
	}
	sc := s3.NewFromConfig(ac)
	w, err := s3lock.New(sc, cfg.WitnessBucket, opts...)
	if err != nil {
		return nil, nil, err
	}
	var aopts []s3lock.Option
	if cfg.ArchiveRetentionDays > 0 {
		aopts = append(aopts, s3lock.WithRetention(time.Duration(cfg.ArchiveRetentionDays)*24*time.Hour))
	}
	a, err := s3lock.NewArchive(sc, cfg.WitnessBucket, aopts...)
	if err != nil {
		return nil, nil, err
	}
	return w, a, nil
}

var _ lambdafn.BucketOpener = Open
