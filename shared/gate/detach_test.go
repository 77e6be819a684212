package gate

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// ctxProbe records whether the context that reached the store was still
// live. Only the audited writes are implemented: anything else is a nil
// interface call and panics.
type ctxProbe struct {
	vsecure.Store
	err error
}

func (p *ctxProbe) saw(ctx context.Context) error { p.err = ctx.Err(); return nil }

func (p *ctxProbe) AppendAudit(ctx context.Context, _ vsecure.Entry) error { return p.saw(ctx) }
func (p *ctxProbe) PutPolicy(ctx context.Context, _ vsecure.Policy, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) RecordRead(ctx context.Context, _ string, _ time.Time, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) SpendUse(ctx context.Context, _ vsecure.Approval, _ string, _ time.Time, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) PutSecret(ctx context.Context, _ vsecure.Secret, _ vsecure.SecretVersion, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) CreateApproval(ctx context.Context, _ vsecure.Approval, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) UpdateApproval(ctx context.Context, _ vsecure.Approval, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) CreateKey(ctx context.Context, _ vsecure.Key, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) BootstrapKey(ctx context.Context, _ vsecure.Key, _ vsecure.Entry, _ bool) error {
	return p.saw(ctx)
}
func (p *ctxProbe) UpdateKey(ctx context.Context, _ vsecure.Key, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) RotateKey(ctx context.Context, _, _ vsecure.Key, _ vsecure.Entry) error {
	return p.saw(ctx)
}

// TestEveryAuditedWriteIsDetached: every store method that takes an audit
// entry writes it, so the gate's store wrapper must cut the caller's
// cancellation from it. A method added to vsecure.Store later and not
// wrapped in detach.go fails here (it reaches the store cancelled, or the
// probe does not know it and the call panics).
func TestEveryAuditedWriteIsDetached(t *testing.T) {
	entry := reflect.TypeFor[vsecure.Entry]()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st := reflect.TypeFor[vsecure.Store]()
	for i := range st.NumMethod() {
		m := st.Method(i)
		takesEntry := false
		for j := range m.Type.NumIn() {
			takesEntry = takesEntry || m.Type.In(j) == entry
		}
		if !takesEntry {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			probe := &ctxProbe{}
			fn := reflect.ValueOf(vsecure.Store(detachedStore{Store: probe})).MethodByName(m.Name)
			args := []reflect.Value{reflect.ValueOf(ctx)}
			for j := 1; j < fn.Type().NumIn(); j++ {
				args = append(args, reflect.Zero(fn.Type().In(j)))
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						probe.err = fmt.Errorf("not wrapped by the probe: %v", r)
					}
				}()
				fn.Call(args)
			}()
			if probe.err != nil {
				t.Errorf("%s reached the store with %v: detachedStore must wrap it", m.Name, probe.err)
			}
		})
	}
}
