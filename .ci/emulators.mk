# Emulator targets, included by the top-level Makefile:
#
#   include .ci/emulators.mk
#
# `make test` installs (cached, pinned) and starts DynamoDB Local and
# local-kms on free ports, runs every Go test with their endpoints exported,
# and stops them again, also when a test fails (the script traps EXIT).

GO_TEST_FLAGS ?= -race -count=1

.PHONY: test emulators-start emulators-stop emulators-env

test:
	.ci/emulators.sh run go test $(GO_TEST_FLAGS) ./...

emulators-start:
	.ci/emulators.sh start

emulators-stop:
	.ci/emulators.sh stop

# eval "$(make -s emulators-env)" exports the endpoints into a shell.
emulators-env:
	@.ci/emulators.sh env
