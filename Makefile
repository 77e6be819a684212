# vsecure — the Makefile is the interface for humans and CI.
# `make run` starts the local server; `make test` runs every test.

GO      ?= go
PKGS    ?= ./...
TSCLIENT := cmd/vsecure/testdata/tsclient
ASLV     := infra/asl/node_modules/.bin/asl-validator
REDOCLY  := docs/openapi-lint/node_modules/.bin/redocly
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION = 1

.PHONY: help run install test vet fmt bench bench-wrk bench-run bench-console fuzz soak

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install: ## install vsecure and its AWS companion vsecure-aws into GOBIN, default GOPATH/bin (README "Install")
	$(GO) install ./cmd/vsecure
	bin=$$($(GO) env GOBIN); bin=$${bin:-$$($(GO) env GOPATH)/bin}; \
	  $(GO) build -tags aws -o "$$bin/vsecure-aws$$($(GO) env GOEXE)" ./cmd/vsecure

run: ## run the local server on its embedded store (127.0.0.1:8080, data in ./.vsecure)
	@echo "make run: compiling vsecure (a minute or two on a cold Go cache), then serving on 127.0.0.1:8080" >&2
	$(GO) run ./cmd/vsecure dev

.PHONY: asl-deps asl
asl-deps: $(ASLV) ## install the pinned asl-validator (infra/asl)

asl: $(ASLV) ## validate the approval state machine's definition (infra/testdata) with asl-validator
	$(ASLV) --json-path infra/testdata/approval-workflow.asl.json

.PHONY: openapi openapi-lint
openapi: ## regenerate docs/openapi.json from the route table and the API types (a test fails while it is stale)
	UPDATE_GOLDEN=1 $(GO) test -count=1 -run '^TestOpenAPIDocIsCurrent$$' ./shared/httpapi/

openapi-lint: $(REDOCLY) ## lint docs/openapi.json with the pinned @redocly/cli (recommended rules: docs/openapi-lint/redocly.yaml)
	$(REDOCLY) lint --config docs/openapi-lint/redocly.yaml docs/openapi.json

# --- mcpb: the Claude Desktop bundle (docs/mcp.md). The @anthropic-ai/mcpb CLI
# is pinned in packaging/mcpb/package-lock.json; packaging/mcpb/build.sh does
# the layout, validation and packing (the bundle test runs it for this platform).
MCPB     := packaging/mcpb/node_modules/.bin/mcpb
MCPB_OUT ?= dist/vsecure.mcpb
.PHONY: mcpb mcpb-deps
mcpb-deps: $(MCPB) ## install the pinned @anthropic-ai/mcpb CLI (packaging/mcpb)

$(MCPB): packaging/mcpb/package-lock.json
	npm ci --prefix packaging/mcpb --no-audit --no-fund
	@touch $@

mcpb: $(MCPB) ## the Claude Desktop bundle dist/vsecure.mcpb: vsecure for 5 platforms, validated and packed by the pinned mcpb CLI (VERSION=x.y.z)
	VERSION=$(VERSION) packaging/mcpb/build.sh $(MCPB_OUT)
	@ls -l $(MCPB_OUT)

vet: ## go vet and gofmt check
	$(GO) vet $(PKGS)
	$(GO) vet -tags aws ./cmd/vsecure/
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "vet: ok"

include .ci/emulators.mk

.PHONY: test-deps chromium
test-deps: $(TSCLIENT)/node_modules/.package-lock.json $(ASLV) $(REDOCLY) $(MCPB) chromium ## install the pinned npm tools tests use (MCP TypeScript SDK, asl-validator, @redocly/cli, @anthropic-ai/mcpb) and Debian's chromium

chromium: ## install Debian's chromium for the browser tests (apt-get, only when missing)
	@.ci/emulators.sh install-chromium

$(TSCLIENT)/node_modules/.package-lock.json: $(TSCLIENT)/package-lock.json
	npm ci --prefix $(TSCLIENT) --no-audit --no-fund
	@echo "test-deps: @modelcontextprotocol/sdk installed in $(TSCLIENT)/node_modules"

$(ASLV): infra/asl/package-lock.json
	npm ci --prefix infra/asl --no-audit --no-fund
	@touch $@

$(REDOCLY): docs/openapi-lint/package-lock.json
	npm ci --prefix docs/openapi-lint --no-audit --no-fund
	@touch $@

test: vet test-deps ## every test under -race with DynamoDB Local and local-kms (installed, started and stopped here), then the CDK tests and the OpenAPI lint
	.ci/emulators.sh run sh -c '$(GO) test -race -count=1 $(PKGS) && $(GO) test -race -count=1 -tags aws -run "^TestBackends" ./cmd/vsecure/'
	$(MAKE) test-infra
	$(MAKE) --no-print-directory openapi-lint
	@echo "test: ok"

bench: $(MCPB) ## benchmarks: audited secret read through the handler, cold start (bare and bundled), and a load run against vsecure dev
	$(GO) test -run '^$$' -bench . -benchmem ./shared/httpapi/ ./shared/store/embedded/ ./shared/slack/ ./shared/mask/
	$(GO) test -run '^$$' -bench AuthorizerJWT -benchtime 5000x ./shared/lambdafn/
	$(GO) test -run '^$$' -bench 'ReadSecret|ColdStart' -benchtime 500x ./cmd/vsecure/
	.ci/emulators.sh run $(GO) test -run '^$$' -bench . ./shared/store/dynamo/
	.ci/bench-load.sh

bench-wrk: ## audited reads against vsecure dev with wrk -t2 -c32 (DURATION=10s), the outside client's view
	.ci/bench-wrk.sh

bench-run: ## vsecure run's overhead over running the command directly (hyperfine against vsecure dev, RUNS=40)
	.ci/bench-run.sh

bench-console: ## console inbox and approval page of vsecure dev with wrk -t2 -c8 (DURATION=8s), signed in as an approver
	.ci/bench-console.sh

SOAK_DURATION ?= 60s
SOAK_MAX      ?= 400000
SOAK_FLAGS     = -bin .soak/vsecure -out .soak -duration $(SOAK_DURATION) -max-requests $(SOAK_MAX)

soak: ## SOAK_DURATION (60s) per run: vsecure dev SIGKILLed 3 times, then on DynamoDB Local with 20% faults; checks the invariants
	$(GO) build -o .soak/vsecure ./cmd/vsecure
	$(GO) build -tags aws -o .soak/vsecure-aws ./cmd/vsecure
	$(GO) build -o .soak/vsecure-soak ./cmd/vsecure-soak
	@rc=0; \
	.soak/vsecure-soak $(SOAK_FLAGS) -store embedded -kills 3 || rc=$$?; \
	.ci/emulators.sh run .soak/vsecure-soak $(SOAK_FLAGS) -store dynamodb -kills 3 -faults 0.2 || rc=$$?; \
	if [ $$rc -ne 0 ]; then echo "soak: invariants violated (see above; logs in .soak/)"; exit $$rc; fi; \
	echo "soak: ok"

fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	.ci/fuzz.sh

.PHONY: mutate
mutate: ## mutation testing of shared/vsecure and shared/gate (gremlins, pinned; no emulators; MUTATE_TIMEOUT per package, default 90m); not part of test
	.ci/mutate.sh

# --- release: the CLI archives of a tag (issue 18) --------------------------
# cmd/internal/release cross-compiles cmd/vsecure for the five platforms and
# writes reproducible archives, one CycloneDX SBOM each (cyclonedx-gomod,
# pinned here and installed into .bin/) and SHA256SUMS into dist/. The
# archives' mtime is the commit's time, so a rebuild of a tag is byte-equal.
# A .mcpb already in dist/ (make mcpb) is listed in SHA256SUMS too.
VERSION          ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
CYCLONEDX_GOMOD  := github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
CYCLONEDX_BIN    := .bin/cyclonedx-gomod-v1.10.0/cyclonedx-gomod
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct)

RELEASE_DIR      ?= dist

.PHONY: release
release: $(CYCLONEDX_BIN) ## dist/: CLI archives for darwin/linux arm64+amd64 (tar.gz) and windows-amd64 (zip), SBOMs, SHA256SUMS [VERSION=v1.2.3 RELEASE_DIR=dist]
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./cmd/internal/release -out $(RELEASE_DIR) -version $(VERSION) -sbom $(CYCLONEDX_BIN) $(addprefix -sum ,$(wildcard $(RELEASE_DIR)/*.mcpb))
	@cd $(RELEASE_DIR) && sha256sum -c --quiet SHA256SUMS && echo "release: $(RELEASE_DIR)/SHA256SUMS verified"

$(CYCLONEDX_BIN):
	GOBIN=$(abspath $(dir $@)) $(GO) install $(CYCLONEDX_GOMOD)

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

# --- infra: the CDK app (infra/ is its own Go module, so `go test ./...` at the
# root never compiles awscdk). The CLI is npm aws-cdk pinned in
# infra/package-lock.json and installed by `npm ci`; synth runs offline.
ENV        ?= dev
CDK        := infra/node_modules/.bin/cdk
CDK_FLAGS   = --no-notices -c env=$(ENV) $(if $(SLACK_CHANNEL),-c slackChannel=$(SLACK_CHANNEL)) $(if $(ALARM_EMAIL),-c alarmEmail=$(ALARM_EMAIL)) $(CDK_CONTEXT)
# CDK_OUT: a cloud assembly synthesized earlier (CI's synth artifact), deployed as it is
CDK_OUT    ?= cdk.out
ACTIONLINT ?= github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
export CDK_DISABLE_VERSION_CHECK = 1
# jsii silences its end-of-life banner per major version (this machine runs Node 20)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20

.PHONY: synth deploy deploy-assembly diff test-infra

$(CDK): infra/package.json infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund
	@touch $@

# PLACEHOLDER= (empty) makes a missing build/<fn>/bootstrap an error: CI synthesizes what it deploys
PLACEHOLDER ?= missing
synth: $(CDK) ## cdk synth ENV=dev|prod into cdk.out, nag-checked; functions not yet built get a placeholder (unless PLACEHOLDER=)
	$(CDK) synth $(CDK_FLAGS) $(if $(PLACEHOLDER),-c placeholderCode=$(PLACEHOLDER)) --quiet
	@echo "synth: cdk.out/vsecure-$(ENV).template.json (nag report: cdk.out/AwsSolutions--vsecure-$(ENV)-NagReport.csv)"

deploy: build $(CDK) ## deploy ENV=dev|prod [SLACK_CHANNEL=... ALARM_EMAIL=... DEPLOY_FLAGS=--require-approval=never]; needs AWS credentials and cdk bootstrap
	$(CDK) deploy $(CDK_FLAGS) $(DEPLOY_FLAGS) vsecure-$(ENV)
	@echo "deploy: vsecure-$(ENV) deployed"

deploy-assembly: $(CDK) ## deploy the already-synthesized CDK_OUT (default cdk.out) as vsecure-ENV: no build, no synth (what CI tested is what ships)
	$(CDK) deploy --app $(CDK_OUT) --no-notices $(DEPLOY_FLAGS) vsecure-$(ENV)
	@echo "deploy-assembly: vsecure-$(ENV) deployed from $(CDK_OUT)"

diff: $(CDK) ## cdk diff of CDK_OUT against the deployed vsecure-ENV (template diff: read-only, the CDK lookup role suffices)
	$(CDK) diff --app $(CDK_OUT) --no-notices --method=template vsecure-$(ENV)

test-infra: $(ASLV) ## CDK stack tests (template assertions, cdk-nag) and actionlint on .github/workflows
	cd infra && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(GO) run $(ACTIONLINT)
	@echo "test-infra: ok"

# --- audit-bench: the audit layout's proof (issue 13 item 5), not part of test
# Seeds AUDIT_BENCH_N entries on DynamoDB Local (minutes on a small machine;
# AUDIT_BENCH_N=5000 to iterate), indexes them, runs every filter kind.
.PHONY: audit-bench
AUDIT_BENCH_N     ?= 100000
AUDIT_BENCH_FLAGS ?=
audit-bench: ## seed AUDIT_BENCH_N (100000) audit entries on DynamoDB Local, query every filter kind: calls, capacity, p50/p99, correctness
	$(WITH_EMULATORS) $(GO) run ./cmd/vsecure-auditbench -n $(AUDIT_BENCH_N) $(AUDIT_BENCH_FLAGS)

# --- cost: the table of docs/cost.md, measured ------------------------------
.PHONY: cost
cost: build ## measure every operation (DynamoDB capacity, KMS, duration, memory, logs) and the stacks' fixed cost; rewrites docs/cost.md's table
	$(MAKE) --no-print-directory synth ENV=dev
	$(MAKE) --no-print-directory synth ENV=prod
	$(WITH_EMULATORS) $(GO) run ./cmd/vsecure-cost
