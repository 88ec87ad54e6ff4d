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
# The TypeScript SDK (client-ts/): Node 20+ and npm; Debian's chromium for
# its browser tests.
TS      := client-ts
CHROMIUM ?= /usr/bin/chromium
# How long each fuzz target runs in `make fuzz` (CI uses 10s each).
FUZZTIME ?= 20s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-19s %s\n", $$1, $$2}'

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

.PHONY: generate-ts
generate-ts: deps-node ## regenerate the TypeScript SDK's protobuf-es types (client-ts/src/gen, client-ts/test/gen)
	$(BUF) generate --template $(TS)/buf.gen.yaml
	$(BUF) generate --template $(TS)/test/buf.gen.yaml

.PHONY: check-generated-ts
check-generated-ts: generate-ts ## fail when client-ts's generated types differ from what api/ generates
	@if [ -n "$$(git status --porcelain -- $(TS)/src/gen $(TS)/test/gen)" ]; then \
	  git status --porcelain -- $(TS)/src/gen $(TS)/test/gen; \
	  echo "client-ts generated code is stale: run 'make generate-ts' and commit it"; exit 1; fi

.PHONY: deps
deps: deps-node ## install what the tests need and Go cannot fetch: Debian's redis-server, redis-cli and chromium, and client-ts's npm packages
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
	  echo "installing redis-server and redis-tools (Debian packages) for the Redis engine tests"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq redis-server redis-tools >/dev/null; }
	@[ -x "$(CHROMIUM)" ] || { \
	  echo "installing chromium (Debian package) for the TypeScript SDK's browser tests"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null; }

# npm ci again whenever package-lock.json is newer than what it installed.
$(TS)/node_modules/.package-lock.json: $(TS)/package-lock.json $(TS)/package.json
	@command -v npm >/dev/null || { echo "client-ts needs Node.js 20+ and npm"; exit 1; }
	@echo "installing client-ts's npm packages (npm ci, from package-lock.json): protobuf-es, its generator, TypeScript, esbuild, ws, playwright-core, Connect"
	cd $(TS) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps-node
deps-node: $(TS)/node_modules/.package-lock.json ## install client-ts's npm packages when missing or stale

.PHONY: test
test: deps ## run every test: Go with the race detector, then the TypeScript SDK's (Node and Chromium)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(MAKE) test-ts

.PHONY: test-ts
test-ts: deps-node ## the TypeScript SDK's tests: unit, protocol, against a real herald, and in headless Chromium
	$(GO) build -o $(TS)/build/herald ./cmd/herald
	cd $(TS) && rm -rf build/src build/test build/example build/bench && \
	  node_modules/.bin/tsc -p tsconfig.json --noEmit && node_modules/.bin/tsc -p tsconfig.test.json
	cd $(TS) && HERALD_BIN=$(CURDIR)/$(TS)/build/herald CHROMIUM=$(CHROMIUM) node --test --test-concurrency=1 --test-timeout=300000 \
	  build/test/unit/*.test.js build/test/protocol/*.test.js build/test/e2e/*.test.js build/test/browser/*.test.js

.PHONY: example
example: deps-node build ## serve the example web app on 127.0.0.1:8090 (with make run going)
	cd $(TS) && node_modules/.bin/tsc -p tsconfig.test.json && HERALD_BIN=$(CURDIR)/bin/herald node build/example/server.js

.PHONY: screenshot-ts
screenshot-ts: deps-node ## retake client-ts/example/screenshot.png (the README's) with the example's browser test
	$(GO) build -o $(TS)/build/herald ./cmd/herald
	cd $(TS) && node_modules/.bin/tsc -p tsconfig.test.json && HERALD_BIN=$(CURDIR)/$(TS)/build/herald HERALD_SCREENSHOT=$(CURDIR)/$(TS)/example/screenshot.png \
	  node --test build/test/browser/example.test.js

.PHONY: bench-ts
bench-ts: deps-node ## the TypeScript SDK's figures: bundle size, pushes/s in one Chromium tab, restart-to-resumed time
	$(GO) build -o $(TS)/build/herald ./cmd/herald
	cd $(TS) && node_modules/.bin/tsc -p tsconfig.test.json && HERALD_BIN=$(CURDIR)/$(TS)/build/herald node build/bench/size.js && \
	  HERALD_BIN=$(CURDIR)/$(TS)/build/herald node build/bench/throughput.js && HERALD_BIN=$(CURDIR)/$(TS)/build/herald node build/bench/restart.js

.PHONY: readme
readme: ## rewrite README.md's settings and limits tables from the settings list (server/settings_*.go)
	$(GO) test ./server -count=1 -run '^TestREADMESettingsTables$$' -update

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
	$(GO) test ./server/tokens -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server/wsgate -run '^$$' -fuzz '^FuzzHandshake$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server/wsgate -run '^$$' -fuzz '^FuzzFrameScanner$$' -fuzztime $(FUZZTIME)

.PHONY: bench
bench: ## Go benchmarks of the hot paths, then a short pinned herald bench run on loopback
	./.ci/bench

.PHONY: check
check: ## what CI runs (.ci/run)
	./.ci/run
