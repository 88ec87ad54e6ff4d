# Herald's tasks. `make help` lists them. Everything runs from a fresh
# clone: Go fetches modules and builds buf and the protoc plugins as pinned
# tools on first use.

GO      ?= go
BUF     := $(GO) tool -modfile=tools/buf/go.mod buf
STATICCHECK := $(GO) tool -modfile=tools/staticcheck/go.mod staticcheck
# What `make breaking` compares api/ against: the last commit on main (HEAD
# in a checkout without a main branch, e.g. a detached CI checkout).
BREAKING_AGAINST ?= .git\#ref=$(shell git rev-parse -q --verify main || git rev-parse HEAD)
PKGS    := ./...
# How long each fuzz target runs in `make fuzz` (CI uses 10s each).
FUZZTIME ?= 20s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: run
run: ## start herald serve with its zero-config defaults (loopback, in-memory)
	$(GO) run ./cmd/herald serve

.PHONY: build
build: ## build bin/herald
	$(GO) build -o bin/herald ./cmd/herald

.PHONY: generate
generate: ## regenerate gen/ from api/ with buf (local plugins only)
	$(BUF) generate

.PHONY: lint
lint: ## buf lint (STANDARD), gofmt, go vet and staticcheck
	$(BUF) lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags lockcheck ./pushsvc/...
	$(STATICCHECK) $(PKGS)

.PHONY: breaking
breaking: ## buf breaking: api/ must not break its wire contract against the last commit on main
	$(BUF) breaking --against '$(BREAKING_AGAINST)'

.PHONY: check-generated
check-generated: generate ## fail when gen/ differs from what api/ generates
	@if [ -n "$$(git status --porcelain -- gen/)" ]; then \
	  git status --porcelain -- gen/; git diff --stat -- gen/; \
	  echo "gen/ is stale: run 'make generate' and commit gen/"; exit 1; fi

.PHONY: deps
deps: ## install what the tests need and Go cannot fetch: Debian's redis-server (and redis-cli, for Redis Cluster tests)
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
	  echo "installing redis-server and redis-tools (Debian packages) for the Redis engine tests"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq redis-server redis-tools >/dev/null; }

.PHONY: test
test: deps ## run every test with the race detector (installs redis-server first if missing)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# The packages whose code takes the push path's ranked locks, or drives
# them through real servers: the tests there run with the lock order
# checked (pushsvc/internal/lockorder).
LOCKCHECK_PKGS := ./pushsvc/ ./pushsvc/engine/memory/ ./pushsvc/internal/... ./server/...

.PHONY: test-lockcheck
test-lockcheck: deps ## run the push path's tests with its lock order checked (-tags lockcheck; 30-60s on 2 cores)
	$(GO) test -tags lockcheck -count=1 -timeout 10m $(LOCKCHECK_PKGS)

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME, from its committed seed corpus (testdata/fuzz)
	$(GO) test ./pushsvc -run '^$$' -fuzz '^FuzzDecodeClientFrame$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server/auth -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server/wsgate -run '^$$' -fuzz '^FuzzHandshake$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server/wsgate -run '^$$' -fuzz '^FuzzFrameScanner$$' -fuzztime $(FUZZTIME)

.PHONY: bench
bench: ## Go benchmarks of the hot paths, then a short pinned herald bench run on loopback
	./.ci/bench

.PHONY: check
check: ## what CI runs (.ci/run)
	./.ci/run
