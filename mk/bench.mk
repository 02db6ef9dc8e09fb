##@ Benchmarks (not part of make test)

BENCH_CONFIGS ?= 1000
BENCH_TRIGGERS ?= 200
BENCH_TRIGGER_RATE ?= 20
BENCH_SHARED ?= 50

.PHONY: bench-controller
bench-controller: $(ENVTEST_ASSETS) operator ## Operator on a real API server: N BackupConfigurations, trigger→Job latency, peak RSS, shared-repository hand-off.
	KUBEBUILDER_ASSETS=$(BIN) go run ./test/bench/controller -configs=$(BENCH_CONFIGS) -triggers=$(BENCH_TRIGGERS) -trigger-rate=$(BENCH_TRIGGER_RATE) -shared=$(BENCH_SHARED)

BENCH_SNAPSHOTS ?= 10000
BENCH_REPOSITORIES ?= 100
BENCH_RUNS ?= 30

.PHONY: bench-snapshots
bench-snapshots: $(ENVTEST_ASSETS) $(BIN)/kubectl ## `kubectl get snapshots` p50/p99 with N Snapshot objects across M Repositories on a real API server.
	KUBEBUILDER_ASSETS=$(BIN) go run ./test/bench/snapshots -snapshots=$(BENCH_SNAPSHOTS) -repositories=$(BENCH_REPOSITORIES) -runs=$(BENCH_RUNS)

# The real kubectl is what the snapshot bench times; a fresh machine has none until this builds it.
$(BIN)/kubectl: hack/tools/kube/go.mod hack/tools/kube/go.sum
	hack/tools.sh kubectl

# Size of the dump bench-restore generates: 1GiB by default, smaller for a quick look.
RESTORE_SIZE ?= 1GiB
RESTORE_RUNS ?= 3

.PHONY: bench-restore
bench-restore: datapath-tools ## Restore of one snapshot: Stash's restic dump | mysql vs. the restore engine at 1, 2, N connections, binlog off and on, and at fewer cores (taskset) (RESTORE_SIZE=1GiB RESTORE_RUNS=3).
	go run ./test/datapath/bench -restore -size $(RESTORE_SIZE) -runs $(RESTORE_RUNS)

BINLOG_DURATION ?= 1m
BINLOG_INTERVAL ?= 10s
BINLOG_WRITERS ?= 4
# With SHIP_EVERY (e.g. 1s), one run streams the binary logs and ships at that interval instead.
SHIP_EVERY ?= 0

.PHONY: bench-binlog
bench-binlog: datapath-tools ## Binary log shipping on a write-heavy workload: extra CPU and throughput against the same workload without shipping, commit → repository delay p50/p99 (BINLOG_DURATION=1m BINLOG_INTERVAL=10s BINLOG_WRITERS=4, or SHIP_EVERY=1s to stream).
	go run ./test/datapath/bench -binlog -binlog-duration $(BINLOG_DURATION) -binlog-interval $(BINLOG_INTERVAL) -binlog-writers $(BINLOG_WRITERS) -binlog-ship-every $(SHIP_EVERY)
