package dynamo_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate/gatetest"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// stuckReplica is DynamoDB Local behind a replica that never catches up:
// an eventually consistent BatchGetItem answers every item matched by
// stuck as it was the first time it was read that way (even after it was
// changed or deleted). Strongly consistent reads see the table. It is the
// worst an eventually consistent read may legally return, kept forever.
// Items matched by hidden have not reached it at all.
type stuckReplica struct {
	*dynamodb.Client
	stuck, hidden func(pk, sk string) bool
	mu            sync.Mutex
	seen          map[string]map[string]types.AttributeValue
}

func (r *stuckReplica) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := r.Client.BatchGetItem(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for table, ka := range in.RequestItems {
		if ka.ConsistentRead != nil && *ka.ConsistentRead {
			continue
		}
		got := map[string]map[string]types.AttributeValue{}
		for _, it := range out.Responses[table] {
			got[keyString(it)] = it
		}
		for _, k := range ka.Keys {
			ks := keyString(k)
			pk, sk := attrS(k, schema.PK), attrS(k, schema.SK)
			if r.hidden != nil && r.hidden(pk, sk) {
				delete(got, ks)
				continue
			}
			if r.stuck == nil || !r.stuck(pk, sk) {
				continue
			}
			if old, ok := r.seen[ks]; ok {
				got[ks] = old
			} else if it, ok := got[ks]; ok {
				r.seen[ks] = it
			}
		}
		items := make([]map[string]types.AttributeValue, 0, len(got))
		for _, it := range got {
			items = append(items, it)
		}
		out.Responses[table] = items
	}
	return out, nil
}

func attrS(it map[string]types.AttributeValue, name string) string {
	v, _ := it[name].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

func keyString(it map[string]types.AttributeValue) string {
	return attrS(it, schema.PK) + "|" + attrS(it, schema.SK)
}

func stuckStore(t *testing.T, stuck, hidden func(pk, sk string) bool) *dynamo.Store {
	t.Helper()
	db := client(t)
	table, audit := tables(t, db)
	s, err := dynamo.New(&stuckReplica{Client: db, stuck: stuck, hidden: hidden, seen: map[string]map[string]types.AttributeValue{}}, table, audit)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func everything(string, string) bool { return true }

// Revocations take effect on the next read however far behind the
// replicas are: what revocation depends on (the caller's key, the grant,
// the token's approval) is never read eventually consistent.
func TestRevocationIgnoresStaleReplicas(t *testing.T) {
	t.Run("token_dies_with_key", func(t *testing.T) { gatetest.TokenDiesWithKey(t, stuckStore(t, everything, nil)) })
	t.Run("token_dies_with_approval", func(t *testing.T) { gatetest.TokenDiesWithApproval(t, stuckStore(t, everything, nil)) })
	t.Run("stale_roles_refused", func(t *testing.T) { gatetest.StaleRolesRefused(t, stuckStore(t, everything, nil)) })
	t.Run("revoked_grant", func(t *testing.T) {
		w := newWorld(t, stuckStore(t, everything, nil))
		a := w.approve(t)
		if _, err := w.g.ReadSecret(t.Context(), w.agent, w.uri, 0); err != nil {
			t.Fatalf("read with the grant: %v", err)
		}
		if _, err := w.g.Revoke(t.Context(), w.alice, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.g.ReadSecret(t.Context(), w.agent, w.uri, 0); !vsecure.IsCode(err, vsecure.EApprovalRequired) {
			t.Fatalf("read after the grant's revocation: %v, want approval_required", err)
		}
	})
}

// A replica behind on a secret's value serves the previous version whole
// (head and value agree) or, when only one of them is behind, the store
// reads both again strongly consistent: a write in flight never reads as
// a torn or tampered record, nor a version the head names as missing.
func TestStaleValueReplica(t *testing.T) {
	const (
		pk = "SECRET#vsecure://secrets/production/DATABASE_URL"
		v1 = "postgres://app:pw@db/app"
		v2 = "postgres://app:pw2@db/app"
	)
	item := func(sks ...string) func(string, string) bool {
		return func(p, sk string) bool { return p == pk && (len(sks) == 0 || slices.Contains(sks, sk)) }
	}
	cases := []struct {
		name          string
		stuck, hidden func(pk, sk string) bool
		version       int // asked for after the write (0: latest)
		want          string
	}{
		{"latest_copy_behind", item("LATEST"), nil, 0, v2},
		{"head_behind", item("HEAD"), nil, 0, v2},
		{"head_and_value_behind", item(), nil, 0, v1},
		{"new_version_not_yet_replicated", nil, item("V#0000000002"), 2, v2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, stuckStore(t, c.stuck, c.hidden))
			w.approve(t)
			ctx := t.Context()
			if r, err := w.g.ReadSecret(ctx, w.agent, w.uri, 0); err != nil || r.Value != v1 {
				t.Fatalf("first read: %q, %v", r.Value, err)
			}
			v := v2
			if _, err := w.g.WriteSecret(ctx, w.admin, w.uri, api.SecretWrite{Value: &v}); err != nil {
				t.Fatal(err)
			}
			r, err := w.g.ReadSecret(ctx, w.agent, w.uri, c.version)
			if err != nil || r.Value != c.want {
				t.Fatalf("read after the write: %q (version %d), %v; want %q", r.Value, r.Version, err, c.want)
			}
		})
	}
}
