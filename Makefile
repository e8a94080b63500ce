# luasbc build, test and benchmark entry points.
GO ?= go
BIN := bin

.PHONY: all build test unit e2e fuzz bench run deps vet fmt docs clean

all: build

build:
	$(GO) build -o $(BIN)/sbc ./cmd/sbc
	$(GO) build -o $(BIN)/sbcctl ./cmd/sbcctl

# run starts the server on the embedded defaults (lua/default.lua, 127.0.0.1:5060).
run: build
	$(BIN)/sbc

# deps installs what the tests need and starts PostgreSQL and Redis when they
# are down (idempotent; no-op when all is present and running).
deps:
	./test/deps.sh
	./test/services.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)

unit:
	$(GO) test -race -count=1 ./core/... ./kemi/... ./modules/... ./cmd/...

e2e: build
	$(GO) test -count=1 -timeout 600s ./test/...

# fuzz runs every fuzz target for a short while (seed corpora run in `unit`).
FUZZTIME ?= 20s
fuzz:
	./test/fuzz.sh $(FUZZTIME)

# test is the whole suite: what README and .ci/run call.
test: deps vet build unit e2e

bench: build
	./test/bench/run.sh

docs:
	$(GO) run ./cmd/sbcdoc

clean:
	rm -rf $(BIN) test/out
