# wasm-sandboxer — run `make help` for the targets.
SHELL := /bin/bash
OUT ?= $(CURDIR)/_output
BIN := $(OUT)/bin
WASM := $(OUT)/wasm
IMAGES := $(OUT)/images
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/wasm-sandboxer/wasm-sandboxer/internal/version.Version=$(VERSION)
GO ?= go
# containerd is built from the version go.mod pins, never downloaded.
CONTAINERD_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/containerd/containerd/v2)

.PHONY: help build dist containerd crictl critest-bin k8s-bin wasm images installer-image bench-images wazero-ref bench bench-quick demo ctr-demo k8s-up k8s-down k8s-demo test test-unit test-integration test-long test-k8s critest fuzz check clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# containerd-shim-wasm-v1 is C, static: containerd starts it after every
# task delete and a Go start costs three times a C one (docs/RATIONALE.md).
CC ?= cc
SHIM_CFLAGS := -static -Os -Wall -Wextra -Werror -std=c11 -D_DEFAULT_SOURCE
SHIM_SRC := cmd/containerd-shim-wasm-v1/front/main.c

build: ## build wasm-sandboxer, its worker, containerd-shim-wasm-v1 and wasm-image into _output/bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/wasm-sandboxer ./cmd/wasm-image
	$(CC) $(SHIM_CFLAGS) -o $(BIN)/containerd-shim-wasm-v1 $(SHIM_SRC)
	# The worker must be pure Go: it drops capabilities on every thread.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/wasm-sandboxer-worker

DIST := $(OUT)/dist/opt/wasm-sandboxer
dist: ## static binaries and install/ in _output/dist/opt/wasm-sandboxer: the installer image's content (install/Dockerfile)
	rm -rf $(OUT)/dist && mkdir -p $(DIST)/bin
	# Static (no cgo): they run on the node, whatever its libc.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/bin/ ./cmd/wasm-sandboxer ./cmd/wasm-sandboxer-worker
	$(CC) $(SHIM_CFLAGS) -o $(DIST)/bin/containerd-shim-wasm-v1 $(SHIM_SRC)
	cp install/install.sh install/wasm-sandboxer.service install/wasm-sandboxer.toml $(DIST)/
	@ls -l $(DIST) $(DIST)/bin

containerd: $(BIN)/.containerd-$(CONTAINERD_VERSION)-runc ## build containerd, ctr and containerd-shim-runc-v2 from the go.mod-pinned module

$(BIN)/.containerd-$(CONTAINERD_VERSION)-runc:
	@echo "containerd: building containerd $(CONTAINERD_VERSION), ctr and the runc shim (the first time: about 5 min on 2 cores, silent)"
	mkdir -p $(BIN)
	$(GO) build -trimpath -tags no_btrfs -o $(BIN)/ github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
	rm -f $(BIN)/.containerd-* && touch $@

crictl: $(BIN)/crictl ## build crictl (sigs.k8s.io/cri-tools, own tools module)

$(BIN)/crictl: hack/tools/go.mod
	@echo "crictl: building cri-tools' crictl in hack/tools (the first time: a few minutes, silent)"
	cd hack/tools && GOSUMDB=off $(GO) build -o $(BIN)/crictl sigs.k8s.io/cri-tools/cmd/crictl

critest-bin: $(BIN)/critest ## build critest (sigs.k8s.io/cri-tools, own tools module)

$(BIN)/critest: hack/tools/go.mod
	cd hack/tools && GOSUMDB=off $(GO) test -c -o $(BIN)/critest sigs.k8s.io/cri-tools/cmd/critest

k8s-bin: ## build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl (hack/k8s module) into _output/bin; cold: tens of minutes
	OUT_BIN=$(BIN) GO="$(GO)" hack/k8s/build.sh

wasm: ## build the test Wasm modules into _output/wasm
	hack/wasm/build.sh $(WASM)

images: build wasm ## package the test modules as OCI image archives in _output/images
	hack/images.sh $(WASM) $(IMAGES)

installer-image: build dist wasm ## the installer DaemonSet's image without a registry: make dist on Debian's static busybox (test-k8s runs its pod)
	hack/installer-image.sh

bench-images: build wasm ## the runc side of the benchmarks: native demo and pause binaries as images
	hack/bench-images.sh

# One driver (root): the full run's results are committed (bench/results/latest.json,
# docs/performance-latency.png), the quick run's are not (.gitignore).
bench: BENCH_FLAGS := -json results/latest.json -plot ../docs/performance-latency.png ## every figure vs runc and bare wazero (≈ 16 min: the committed run, bench/results/latest.json, took 964 s); plot in docs/
bench-quick: BENCH_FLAGS := -quick -json results/latest-quick.json -plot results/latency-quick.png ## the same figures, fewer samples (< 3 min); results in bench/results/latest-quick.json
# The reference of figures 8 and 9: upstream wazero's CLI at the version go.mod
# pins, built outside this module (so no replace of ours applies to it).
WAZERO_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/tetratelabs/wazero)
wazero-ref: $(BIN)/wazero-ref ## build upstream `wazero` (the CLI, at go.mod's version) as _output/bin/wazero-ref

$(BIN)/wazero-ref:
	mkdir -p $(BIN)
	cd $(OUT) && GOBIN=$(OUT)/.wazero-ref GOFLAGS= $(GO) install github.com/tetratelabs/wazero/cmd/wazero@$(WAZERO_VERSION)
	mv $(OUT)/.wazero-ref/wazero $@ && rmdir $(OUT)/.wazero-ref

bench bench-quick: build containerd images bench-images wazero-ref
	cd bench && $(GO) run ./cmd/wasm-bench -top $(CURDIR) -out $(OUT) $(BENCH_FLAGS)

demo: build containerd crictl images ## run a pod printing "hello from wasm" through a private containerd, then tear down
	hack/demo.sh

ctr-demo: build containerd crictl images ## ctr run of the three image shapes (artifact through CRI), then tear down
	hack/ctr-demo.sh

# A single-node Kubernetes next to the devenv (hack/k8s.sh), kept in K8S_DIR.
K8S_DIR ?= /tmp/wasm-k8s

k8s-up: build containerd crictl images installer-image bench-images k8s-bin ## start a devenv and a single-node Kubernetes on loopback in K8S_DIR (default /tmp/wasm-k8s), test images imported
	@test ! -e $(K8S_DIR)/containerd.pid || { echo "k8s-up: $(K8S_DIR) is already up (make k8s-down first)" >&2; exit 1; }
	DEVENV_CONTAINERD_CONFIG=hack/k8s/containerd.toml hack/devenv.sh start $(K8S_DIR)
	hack/k8s.sh up $(K8S_DIR) || { echo "k8s-up failed: logs in $(K8S_DIR)/k8s; make k8s-down cleans up" >&2; exit 1; }
	for img in $(IMAGES)/*.tar; do $(BIN)/ctr --address $(K8S_DIR)/containerd.sock -n k8s.io images import "$$img" >/dev/null; done
	@echo 'eval "$$(hack/k8s.sh env $(K8S_DIR))"; kubectl get nodes'

k8s-down: ## tear down make k8s-up's cluster and devenv
	hack/k8s.sh down $(K8S_DIR)
	hack/devenv.sh stop $(K8S_DIR)

k8s-demo: build containerd crictl images k8s-bin ## run manifests/examples on a single-node Kubernetes (kubelet → containerd → wasm-sandboxer), then tear down
	hack/k8s-demo.sh

test: test-unit test-integration ## unit tests, then integration tests against a real containerd

# go test -timeout per package, sized to it: over three times what the
# package took under -race on a 2-core machine beside a CPU hog on both
# cores and other builds (docs/performance.md, "make test-unit": forked
# 12 min, goroutine 6 min, every other package under 90 s), so that a hung
# test fails within its package's bound and a slow machine still passes.
# go test's default of 10 min failed a newcomer's run of runtime/forked.
# The two slow packages run one after the other, each with its own bound;
# every other package runs in one go test with UNIT_TIMEOUT.
# Heavy tests' sizes are knobs: HAMMER_GOROUTINE_N (10,000),
# HAMMER_FORKED_N (1,000), WASIDIFF_GROUPS (all).
UNIT_TIMEOUT ?= 10m
SLOW_TIMEOUTS ?= runtime/forked:40m runtime/goroutine:20m
SLOW_PKGS := $(foreach p,$(SLOW_TIMEOUTS),./$(firstword $(subst :, ,$(p))))
test-unit: ## go test -race of every package (manifests/ and install/ included), each with its own timeout
	$(GO) test -race -count=1 -timeout $(UNIT_TIMEOUT) $$($(GO) list ./... | sed 's|^github.com/wasm-sandboxer/wasm-sandboxer|.|' | grep -vxF $(foreach p,$(SLOW_PKGS),-e $(p)))
	@set -e; for p in $(SLOW_TIMEOUTS); do \
		echo "$(GO) test -race -count=1 -timeout $${p#*:} ./$${p%%:*}"; \
		$(GO) test -race -count=1 -timeout $${p#*:} ./$${p%%:*}; \
	done
	cd bench && $(GO) test -race -count=1 -timeout $(UNIT_TIMEOUT) ./...

test-integration: build containerd crictl images ## end-to-end tests through CRI, crictl and ctr against a private containerd (root)
	WASM_SANDBOXER_OUT=$(OUT) $(GO) test -race -count=1 -tags integration -timeout 20m ./integration/...

test-k8s: build containerd crictl images installer-image bench-images k8s-bin ## Kubernetes tests (Deployments, Jobs, probes, Services, OOM, stats, bad input, the installer DaemonSet) in both runtimes on a single-node cluster (root)
	WASM_SANDBOXER_OUT=$(OUT) $(GO) test -count=1 -tags k8s -timeout 30m ./integration/k8s/...

FUZZTIME ?= 30s
# package:target of every fuzz target; seed corpora are committed with them.
FUZZ_TARGETS := ./internal/wasispec:FuzzFromSpec ./internal/wasmimage:FuzzResolve ./sandboxer:FuzzParseState

# Go's fuzzer itself sometimes ends a run with "context deadline exceeded"
# when -fuzztime runs out while a worker is still busy (seen once in a CI run
# on a loaded machine, none in the three reruns after it): no input failed and
# none was written. That one outcome is run again once; a failing input
# ("Failing input written to testdata/fuzz/…") never is.
fuzz: ## run every fuzz target for FUZZTIME each (default 30s): spec translation, image parser, state loader
	@set -eo pipefail; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		if ! $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}" 2>&1 | tee $(OUT)/fuzz.log; then \
			if grep -q 'context deadline exceeded' $(OUT)/fuzz.log && ! grep -q 'Failing input written' $(OUT)/fuzz.log; then \
				echo "fuzz: the fuzzer's own deadline error, no failing input: running $${t#*:} again"; \
				$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
			else exit 1; fi; \
		fi; \
	done

test-long: build containerd images ## load test: 1,000 pods through CRI, 4 clients and a killer (LOAD_PODS=…)
	WASM_SANDBOXER_OUT=$(OUT) WASM_SANDBOXER_LOAD_PODS=$(or $(LOAD_PODS),1000) $(GO) test -count=1 -tags integration -timeout 30m -run '^TestLoad$$' -v ./integration/... | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|load_test'; exit $${PIPESTATUS[0]}

critest: build containerd wasm critest-bin ## critest against the wasm handler, skip list in docs/conformance.md
	hack/critest.sh

check: ## fail when gofmt, go vet or go mod tidy would change anything
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	cd bench && $(GO) vet ./... && $(GO) mod tidy -diff

clean: ## remove _output
	rm -rf $(OUT)
