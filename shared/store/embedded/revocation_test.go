package embedded_test

import (
	"path/filepath"
	"testing"

	"github.com/vsecure/vsecure/shared/gate/gatetest"
)

// The gate's revocation scenarios on bbolt (see gatetest).

func TestTokenDiesWithKey(t *testing.T) {
	gatetest.TokenDiesWithKey(t, open(t, filepath.Join(t.TempDir(), "vsecure.db")))
}

func TestTokenDiesWithApproval(t *testing.T) {
	gatetest.TokenDiesWithApproval(t, open(t, filepath.Join(t.TempDir(), "vsecure.db")))
}

func TestStaleRolesRefused(t *testing.T) {
	gatetest.StaleRolesRefused(t, open(t, filepath.Join(t.TempDir(), "vsecure.db")))
}

func TestOneUseGrantReadOnce(t *testing.T) {
	gatetest.OneUseGrantReadOnce(t, open(t, filepath.Join(t.TempDir(), "vsecure.db")))
}

func TestUsesSpentByReadAndUse(t *testing.T) {
	gatetest.UsesSpentByReadAndUse(t, open(t, filepath.Join(t.TempDir(), "vsecure.db")))
}
