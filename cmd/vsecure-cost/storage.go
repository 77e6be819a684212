package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Storage prices (us-east-1): DynamoDB Standard table storage, with AWS's
// 100 bytes of overhead per item, and S3 Standard (the archive's class).
const (
	dynamoGBMonth      = 0.25
	dynamoItemOverhead = 100
	s3GBMonth          = 0.023
	storageSample      = 3600 // one audited read a second for an hour: one archive object
)

// storageBytes measures, over storageSample sealed audited-read entries,
// the bytes an entry occupies in the audit table (the item of AUDIT3's
// layout: pk, sk, data, seal, ttl; by DynamoDB's size rules) and in the
// archive (its share of the gzip'd object, digests included).
func storageBytes(ctx context.Context) (kept, archived float64, err error) {
	dir, err := os.MkdirTemp("", "vsecure-cost-storage-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	wrap := make([]byte, 32)
	rand.Read(wrap)
	keys, err := local.NewMACKeys(wrap)
	if err != nil {
		return 0, 0, err
	}
	st, err := embedded.Open(filepath.Join(dir, "audit.db"), embedded.WithSeal(keys, "cost"))
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	start := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	for i := range storageSample {
		at := start.Add(time.Duration(i) * time.Second)
		e := vsecure.Entry{ID: auditlog.NewEntryID(at), Timestamp: at, Operation: vsecure.AuditRead,
			Actor: "agent-ci-deployer", Resource: "vsecure://secrets/production/DATABASE_URL", Success: true,
			Metadata: map[string]string{"requestId": "req_" + strconv.Itoa(1e8+i) + "abcdefghijklmnop", "version": "3"}}
		if err := st.AppendAudit(ctx, e); err != nil {
			return 0, 0, err
		}
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	signer, _ := local.NewSigner(seed)
	now := func() time.Time { return start.Add(2 * time.Hour) }
	sealer, err := digest.NewSealer(digest.Config{Store: st, Signer: signer, MACKeys: keys, Now: now})
	if err != nil {
		return 0, 0, err
	}
	if _, err := sealer.Seal(ctx); err != nil {
		return 0, 0, err
	}
	n, size := 0, 0
	err = st.AuditRange(ctx, start, start.Add(time.Hour), func(r vsecure.AuditRecord) (bool, error) {
		n++
		size += auditItemSize(r)
		return true, nil
	})
	if err != nil || n == 0 {
		return 0, 0, fmt.Errorf("storage sample: %d entries, %v", n, err)
	}
	adir := filepath.Join(dir, "archive")
	a, err := archive.New(archive.Config{Store: st, Bucket: archive.NewDir(adir), Now: now})
	if err != nil {
		return 0, 0, err
	}
	if _, err := a.Archive(ctx); err != nil {
		return 0, 0, err
	}
	var gz int64
	filepath.Walk(adir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			gz += fi.Size()
		}
		return nil
	})
	return float64(size)/float64(n) + dynamoItemOverhead, float64(gz) / float64(n), nil
}

// auditItemSize is the DynamoDB size of r's entry item: each attribute's name
// plus its value (strings and binaries by length, numbers ≈ 1 byte per two
// digits + 1).
func auditItemSize(r vsecure.AuditRecord) int {
	data, _ := json.Marshal(r.Entry)
	num := func(v int64) int { return (len(strconv.FormatInt(v, 10))+1)/2 + 1 }
	sk := r.Entry.Timestamp.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + r.Entry.ID
	size := len("pk") + len("T#00") + len("sk") + len(sk) + len("data") + len(data) +
		len("ttl") + num(r.Entry.Timestamp.Add(400*24*time.Hour).Unix())
	if s := r.Seal; s != nil {
		size += len("sealEpoch") + len(s.Epoch) + len("sealSeq") + num(int64(s.Seq)) +
			len("sealMac") + len(s.MAC)
		if len(s.Prev) > 0 {
			size += len("sealPrev") + len(s.Prev)
		}
	}
	return size
}

// writeStorage prints the storage table: what a million audited reads cost
// each month they are kept in the table, and each month in the archive. A
// failed measurement is printed in its place, never guessed.
func writeStorage(ctx context.Context, w io.Writer) {
	kept, archived, err := storageBytes(ctx)
	if err != nil {
		fmt.Fprintf(w, "\nStorage per million audited reads: not measured (%v)\n", err)
		return
	}
	perM := func(bytes, price float64) float64 { return bytes * 1e6 / 1e9 * price }
	fmt.Fprintf(w, "\n### Storage per million audited reads (per month kept)\n\n")
	fmt.Fprintf(w, "| where | bytes per entry | $/GB-month | $ per million entries per month |\n| --- | ---: | ---: | ---: |\n")
	fmt.Fprintf(w, "| audit table (DynamoDB, item + 100 B) | %.0f | %.3f | %.4f |\n", kept, dynamoGBMonth, perM(kept, dynamoGBMonth))
	fmt.Fprintf(w, "| archive (S3 Object Lock, gzip'd JSONL with digests) | %.0f | %.3f | %.4f |\n", archived, s3GBMonth, perM(archived, s3GBMonth))
	fmt.Fprintf(w, "\nMeasured on %d sealed audited-read entries (one archive object). A million reads kept for the default 400 days "+
		"cost $%.2f in the table, then $%.3f a month for each month of the 7-year archive.\n",
		storageSample, perM(kept, dynamoGBMonth)*400/30.4, perM(archived, s3GBMonth))
}
