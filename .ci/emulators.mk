# Emulator targets, included by the top-level Makefile (`include .ci/emulators.mk`).
#
# The Makefile's test recipe wraps go test in the emulator script, which
# installs (cached, pinned) and starts DynamoDB Local and local-kms on free
# ports, exports their endpoints, and stops them when go test exits, pass or
# fail (EXIT trap):
#
#   test: vet ## run every test under -race, with DynamoDB Local and local-kms
#   	.ci/emulators.sh run $(GO) test -race -count=1 $(PKGS)

GO ?= go

.PHONY: run-dynamodb emulators-start emulators-stop emulators-env

run-dynamodb: ## run the local server on DynamoDB Local + local-kms (tables created; audit indexer every second; emulators stop on exit)
	.ci/emulators.sh run env VSECURE_CREATE_TABLES=true $(GO) run -tags aws ./cmd/vsecure dev --store dynamodb

emulators-start: ## start DynamoDB Local and local-kms in the background (see emulators-env)
	.ci/emulators.sh start

emulators-stop: ## stop what emulators-start started
	.ci/emulators.sh stop

emulators-env: ## print export lines: eval "$$(make -s emulators-env)"
	@.ci/emulators.sh env
