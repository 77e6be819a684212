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
