# schemaproxy: `make demo` runs the product on an embedded cluster,
# `make test` runs every test (installing what the integration suite needs).

SHELL     := /bin/bash
GO        ?= go
CACHE     := $(CURDIR)/.cache
GOBIN     := $(CACHE)/bin
STATICCHECK_VERSION := v0.8.2
FUZZTIME  ?= 20s
BIN       := bin/schemaproxy

export GOFLAGS ?=

.PHONY: all build demo test test-fast test-integration lint fmt-check vet staticcheck fuzz-short bench bench-micro bench-conns bench-engine clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/schemaproxy

## demo: an in-process 3-broker Kafka with schemaproxy in front, until Ctrl-C.
demo:
	$(GO) run ./cmd/schemaproxy demo

## test: lint, unit and in-process tests, then the real-Kafka integration suite.
test: lint test-fast test-integration

## test-fast: everything `go test ./...` runs (unit, kfake end to end); no installs.
test-fast:
	$(GO) test -count=1 -race -timeout 10m ./...

## test-integration: real Apache Kafka and real Java, Python and Node clients.
test-integration:
	deploy/dev/setup.sh
	@mkdir -p $(CACHE); echo "integration suite (full log: .cache/itest.log)"; \
	if $(GO) test -count=1 -tags integration -timeout 20m -v ./deploy/dev/itest/... >$(CACHE)/itest.log 2>&1; then \
	  grep -E '^(\s*--- |ok|PASS)' $(CACHE)/itest.log; \
	else \
	  tail -n 300 $(CACHE)/itest.log; exit 1; \
	fi

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./deploy/...

$(GOBIN)/staticcheck-$(STATICCHECK_VERSION):
	mkdir -p $(GOBIN)
	GOBIN=$(GOBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	touch $@

staticcheck: $(GOBIN)/staticcheck-$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck ./...

## fuzz-short: each fuzz target for $(FUZZTIME).
fuzz-short:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: produce and consume throughput, latency, proxy CPU and memory,
## direct vs through the proxy in alternating rounds (bench/README.md).
## BENCH_FLAGS passes flags, e.g. BENCH_FLAGS="--mode off,id --both --consume".
bench:
	$(GO) run ./bench $(BENCH_FLAGS)

## bench-micro: Go micro-benchmarks (framing, rewriting, validation, cache).
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-conns: proxy memory per idle connection and behind a client that never reads.
bench-conns: build
	$(GO) run ./bench/conns $(BENCH_FLAGS)

## bench-engine: the net data plane against a minimal gnet/v2 passthrough.
bench-engine:
	$(GO) run ./bench/engine $(BENCH_FLAGS)

clean:
	rm -rf bin
