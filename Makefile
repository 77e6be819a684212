# vsecure — the Makefile is the interface for humans and CI.
# `make run` starts the local server; `make test` runs every test.

GO      ?= go
PKGS    ?= ./...
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION = 1

.PHONY: help run test vet fmt bench fuzz

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: ## run the local server on its embedded store (127.0.0.1:8080, data in ./.vsecure)
	$(GO) run ./cmd/vsecure dev

vet: ## go vet and gofmt check
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "vet: ok"

test: vet ## run every test under -race
	$(GO) test -race -count=1 $(PKGS)
	@echo "test: ok"

bench: ## benchmarks: audited secret read through the handler, and a load run against vsecure dev
	$(GO) test -run '^$$' -bench . -benchmem ./shared/httpapi/ ./shared/store/embedded/
	.ci/bench-load.sh

fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	.ci/fuzz.sh

# --- Lambda functions: build, invoke, bench-lambda ---------------------------
# One function per functions/<name>; `make build` cross-compiles each for
# linux/arm64 into build/<name>/bootstrap + build/<name>.zip, in parallel, and
# rebuilds only what changed. invoke and bench-lambda run host builds of the
# same binaries under aws-lambda-rie against DynamoDB Local and local-kms
# (started by .ci/emulators.sh unless VSECURE_TEST_DYNAMODB_ENDPOINT is set).

FUNCTIONS    := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w -buildid="
LAMBDA_SRC    = $(shell find shared functions -name '*.go' ! -name '*_test.go') go.mod go.sum
WITH_EMULATORS = $(if $(VSECURE_TEST_DYNAMODB_ENDPOINT),,.ci/emulators.sh run)

.PHONY: build lambda-zips invoke bench-lambda
.PRECIOUS: build/%/bootstrap

build: ## every function for linux/arm64: build/<name>/bootstrap and build/<name>.zip (parallel, incremental)
	@$(MAKE) --no-print-directory -j $$(nproc) lambda-zips
	@echo "build: $(words $(FUNCTIONS)) functions in build/ (linux/arm64)"

lambda-zips: $(FUNCTIONS:%=build/%.zip)

build/%/bootstrap: $(LAMBDA_SRC)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

build/%.zip: build/%/bootstrap
	@rm -f $@ && cd build/$* && zip -q -X ../$*.zip bootstrap

invoke: ## FN=<name> [EVENT=file]: run that function's bootstrap under aws-lambda-rie and print the response
	@test -n "$(FN)" || { echo "usage: make invoke FN=<name> [EVENT=events/<name>.json]"; exit 2; }
	$(WITH_EMULATORS) $(GO) run ./cmd/vsecure-lambda invoke -fn $(FN) $(if $(EVENT),-event $(abspath $(EVENT)))

bench-lambda: build ## per function: size, cold start next to hello-world, warm p50/p99 under aws-lambda-rie
	$(WITH_EMULATORS) $(GO) run ./cmd/vsecure-lambda bench
