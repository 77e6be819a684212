package dynamo_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// containers are two stores on one pair of tables, as two Lambda
// containers are: reader's gate reads (and caches policies), writer's
// gate changes policies.
type containers struct {
	*world
	calls  *calls
	writer *gate.Gate
}

func newContainers(t *testing.T) *containers {
	t.Helper()
	c := &calls{n: map[string]int{}}
	db := client(t, c.option, c.recordBatchGets)
	table, audit := tables(t, db)
	reader, err := dynamo.New(db, table, audit)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := dynamo.New(client(t), table, audit)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := local.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{Store: writer, Sealer: sealer, CursorKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return &containers{world: newWorld(t, reader), calls: c, writer: g}
}

// setPolicy configures p through the writer's container.
func (c *containers) setPolicy(t *testing.T, p vsecure.Policy) {
	t.Helper()
	if _, err := c.writer.ConfigurePolicy(t.Context(), c.admin, p); err != nil {
		t.Fatal(err)
	}
}

// read reads the secret as the agent in the reader's container and
// returns the error code ("" for success) and the BatchGetItems it sent.
func (c *containers) read(t *testing.T) (vsecure.Code, string) {
	t.Helper()
	c.calls.takeBatches()
	_, err := c.g.ReadSecret(t.Context(), c.agent, c.uri, 0)
	var reads []string
	for _, b := range c.calls.takeBatches() {
		reads = append(reads, b.String())
	}
	if err == nil {
		return "", strings.Join(reads, " + ")
	}
	e, ok := err.(*vsecure.Error)
	if !ok {
		t.Fatalf("read: %v", err)
	}
	return e.Code, strings.Join(reads, " + ")
}

var (
	openProduction  = vsecure.Policy{URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite}}
	gatedProduction = vsecure.Policy{URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite},
		RequiresApproval: true, Approvers: []string{"alice"}}
)

// TestPolicyChangeSeenByOtherContainer: a policy written through another
// Store is governing this Store's very next read (the version moved, so
// the cached candidates are read again, strongly), and a warm read with
// an unchanged version reads no candidate at all.
func TestPolicyChangeSeenByOtherContainer(t *testing.T) {
	c := newContainers(t)
	const (
		warm    = "strong[GRANT KEY] + eventual[POLICYSET SECRET/HEAD SECRET/LATEST]"
		changed = "strong[GRANT KEY] + strong[POLICY POLICY POLICY] + eventual[POLICYSET SECRET/HEAD SECRET/LATEST]"
	)
	steps := []struct {
		name  string
		set   *vsecure.Policy
		code  vsecure.Code
		reads string
	}{
		{"cached: approval required", nil, vsecure.EApprovalRequired, warm},
		{"approval no longer required", &openProduction, "", changed},
		{"warm again", nil, "", warm},
		{"newly requires approval", &gatedProduction, vsecure.EApprovalRequired, changed},
		{"open again", &openProduction, "", changed},
		// A candidate cached as absent appears: the exact URI's policy,
		// which governs over the pattern, allows no read.
		{"absent candidate appears, write only", &vsecure.Policy{URI: c.uri.String(), Permissions: []vsecure.Operation{vsecure.OpWrite}},
			vsecure.EOperationNotAllowed, changed},
		{"warm, still forbidden", nil, vsecure.EOperationNotAllowed, warm},
		// The policy set changing elsewhere re-reads this URI's
		// candidates too, and finds them as they were.
		{"unrelated policy", &vsecure.Policy{URI: "vsecure://secrets/staging/*", Permissions: []vsecure.Operation{vsecure.OpRead}}, vsecure.EOperationNotAllowed, changed},
	}
	for _, st := range steps {
		if st.set != nil {
			c.setPolicy(t, *st.set)
		}
		code, reads := c.read(t)
		if code != st.code {
			t.Errorf("%s: read answered %q, want %q", st.name, code, st.code)
		}
		if reads != st.reads {
			t.Errorf("%s: reads %s, want %s", st.name, reads, st.reads)
		}
	}
}

// TestPolicyCacheColdShape: a container that has seen the version but not
// this URI reads the candidates strongly in the first round trip, beside
// the grant and the key.
func TestPolicyCacheColdShape(t *testing.T) {
	c := newContainers(t)
	other, _ := vsecure.ParseURI("vsecure://secrets/production/OTHER")
	c.calls.takeBatches()
	_, err := c.g.ReadSecret(t.Context(), c.agent, other, 0)
	if !vsecure.IsCode(err, vsecure.EApprovalRequired) {
		t.Fatalf("read: %v, want approval_required", err)
	}
	var reads []string
	for _, b := range c.calls.takeBatches() {
		reads = append(reads, b.String())
	}
	want := "strong[GRANT KEY POLICY POLICY POLICY] + eventual[POLICYSET SECRET/HEAD SECRET/LATEST]"
	if got := strings.Join(reads, " + "); got != want {
		t.Errorf("cold read: %s, want %s", got, want)
	}
}

// TestPolicyCacheConcurrent reads in one container while another writes
// policies (run with -race); once the writes are done, the next read is
// governed by the last one.
func TestPolicyCacheConcurrent(t *testing.T) {
	c := newContainers(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.g.ReadSecret(t.Context(), c.agent, c.uri, 0)
				if err != nil && !vsecure.IsCode(err, vsecure.EApprovalRequired) {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 10 {
		p := openProduction
		if i%2 == 0 {
			p = gatedProduction
		}
		c.setPolicy(t, p)
	}
	c.setPolicy(t, openProduction)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent read: %v", err)
	}
	if code, _ := c.read(t); code != "" {
		t.Errorf("after the last write (no approval required) the read answered %q", code)
	}
	c.setPolicy(t, gatedProduction)
	if code, _ := c.read(t); code != vsecure.EApprovalRequired {
		t.Errorf("after the last write (approval required) the read answered %q", code)
	}
}
