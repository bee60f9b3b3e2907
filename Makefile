# Lathe's build. `make run` sets up and runs experiments/quickstart.hcl;
# `make test` runs every test. Both install missing system packages first
# (.ci/deps; a no-op when everything is there).

GO ?= go
# Build with OpenBLAS when its library is installed (about 2x faster
# training); the transformer falls back to pure-Go BLAS otherwise. The
# backend in use is recorded in each model's info in the run log.
BUILD_TAGS ?= $(if $(wildcard /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so /usr/local/lib/libopenblas.so),openblas,)
TAGS_FLAG := $(if $(strip $(BUILD_TAGS)),-tags '$(BUILD_TAGS)',)
# The full suite takes a few minutes on 2 cores; the limit catches a hang.
TEST_TIMEOUT ?= 20m
EXPERIMENT ?= experiments/quickstart.hcl

.PHONY: all deps build test test-go bench proto lint run validate clean

all: build

deps:
	@.ci/deps

build:
	$(GO) build $(TAGS_FLAG) -o bin/lathe ./cmd/lathe

# Packages whose code runs concurrently (rollouts, the runner, plugin host,
# tools stepping sessions in parallel, the HTTP server and client of served
# models, the gRPC layer) also run under the
# race detector, in -short mode to keep CI quick.
RACE_PKGS ?= ./core/rollout ./core/train ./core/runner ./core/rundir ./core/pluginhost ./core/synth ./core/serve \
	./plugins/coedit/... ./plugins/rewrite ./plugins/openai ./sdk/...

# test and run call make again after deps: BUILD_TAGS is computed when the
# Makefile is read, and on a fresh machine OpenBLAS only exists after deps.
test: deps
	$(MAKE) --no-print-directory test-go

test-go:
	$(GO) test $(TAGS_FLAG) -timeout $(TEST_TIMEOUT) ./...
	$(GO) test $(TAGS_FLAG) -race -short -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

bench:
	$(GO) test $(TAGS_FLAG) -run '^$$' -bench . ./...
	LATHE_BENCH=1 $(GO) test -count=1 -run TestThroughputComparison -v ./core/sandbox

# Regenerates the committed gRPC code with the generator versions pinned
# as tool directives in go.mod; needs protoc (make deps).
proto:
	$(GO) generate ./sdk/internal/proto

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(TAGS_FLAG) ./...

validate: build
	for f in experiments/*.hcl; do bin/lathe validate $$f || exit 1; done

run: deps
	$(MAKE) --no-print-directory build
	bin/lathe run $(EXPERIMENT)

clean:
	rm -rf bin
