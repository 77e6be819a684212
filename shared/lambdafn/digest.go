package lambdafn

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/digest"
)

// DigestFunction is the scheduled audit digest step. It serves no route:
// an EventBridge rule invokes it every few minutes.
const DigestFunction = catalog.Digest

// DigestResult is what one scheduled run did. The digests' hashes are in
// the log too ("audit window sealed"): CloudWatch Logs is the outside
// witness the chain's newest end needs.
type DigestResult struct {
	Sealed int       `json:"sealed"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	Last   string    `json:"last,omitempty"` // hash of the newest digest written
	// Archived is what the archiver did after sealing (nil without an
	// archive bucket).
	Archived *archive.Stats `json:"archived,omitempty"`
}

// ArchiveLagMetric names the CloudWatch metric (seconds the archive ends
// behind now) that infra alarms on.
const ArchiveLagMetric = "AuditArchiveLag"

// DigestHandler seals every closed audit window not sealed yet with the
// function's audit signing key. A failed run returns its error, so Lambda
// records it (alarms) and the next scheduled run carries on from the last
// digest written: sealing is resumable and safe to overlap.
func (f *Function) DigestHandler() (func(context.Context, events.EventBridgeEvent) (DigestResult, error), error) {
	if f.AuditSigner == nil {
		return nil, errors.New("lambdafn: " + DigestFunction + ": missing required environment variable VSECURE_AUDIT_SIGNING_KEY_ARN")
	}
	s, err := digest.NewSealer(digest.Config{Store: f.Gate.Store(), Signer: f.AuditSigner, Witness: f.Witness, MACKeys: f.MACKeys, Log: f.Log})
	if err != nil {
		return nil, err
	}
	var ar *archive.Archiver
	if f.Archive != nil {
		if ar, err = archive.New(archive.Config{Store: f.Gate.Store(), Bucket: f.Archive, Log: f.Log}); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) (DigestResult, error) {
		ds, err := s.Seal(ctx)
		var r DigestResult
		if n := len(ds); n > 0 {
			r = DigestResult{Sealed: n, From: ds[0].From, To: ds[n-1].To, Last: ds[n-1].Hash()}
		}
		if err != nil {
			f.Log.ErrorContext(ctx, "audit digest run failed", "event", ev.ID, "sealed", r.Sealed, "err", err)
			return r, err
		}
		if ar != nil {
			// Archive right after sealing: each hour leaves for the Object
			// Lock bucket minutes after it is sealed, months before TTL.
			st, err := ar.Archive(ctx)
			r.Archived = &st
			f.Log.InfoContext(ctx, "audit archive run", "objects", st.Objects, "records", st.Records, "through", st.Through,
				"_aws", emfUnit(time.Now(), ArchiveLagMetric, "Seconds"), ArchiveLagMetric, int64(st.Lag.Seconds()), "FunctionName", lambdacontext.FunctionName)
			if err != nil {
				f.Log.ErrorContext(ctx, "audit archive run failed", "event", ev.ID, "err", err)
				return r, err
			}
		}
		f.Log.InfoContext(ctx, "audit digest run", "event", ev.ID, "scheduled", ev.Time, "sealed", r.Sealed, "to", r.To)
		return r, nil
	}, nil
}

// ServeDigest runs the scheduled audit digest function.
func ServeDigest() {
	f, log := mustOpen(os.Stdout, true, nil)
	h, err := f.DigestHandler()
	if err != nil {
		fatal(log, err)
	}
	lambda.Start(h)
}
