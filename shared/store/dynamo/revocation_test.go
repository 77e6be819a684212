package dynamo_test

import (
	"testing"

	"github.com/vsecure/vsecure/shared/gate/gatetest"
)

// The gate's revocation scenarios on DynamoDB Local (see gatetest).

func TestTokenDiesWithKey(t *testing.T) {
	gatetest.TokenDiesWithKey(t, newStore(t, client(t)))
}

func TestTokenDiesWithApproval(t *testing.T) {
	gatetest.TokenDiesWithApproval(t, newStore(t, client(t)))
}

func TestStaleRolesRefused(t *testing.T) {
	gatetest.StaleRolesRefused(t, newStore(t, client(t)))
}

func TestOneUseGrantReadOnce(t *testing.T) {
	gatetest.OneUseGrantReadOnce(t, newStore(t, client(t)))
}

func TestUsesSpentByReadAndUse(t *testing.T) {
	gatetest.UsesSpentByReadAndUse(t, newStore(t, client(t)))
}
