package gate

import (
	"context"

	"github.com/vsecure/vsecure/shared/vsecure"
)

func (p *ctxProbe) CreatePasskey(ctx context.Context, _ vsecure.Passkey, _ vsecure.Entry) error {
	return p.saw(ctx)
}
func (p *ctxProbe) DeletePasskey(ctx context.Context, _, _ string, _ vsecure.Entry) error {
	return p.saw(ctx)
}
