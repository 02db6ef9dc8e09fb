##@ MySQL addon (data path)

ADDON_BIN ?= $(BIN)/linux-amd64/hoard-mysql-addon
# Size of the database bench-datapath generates (e.g. SIZE=200MiB), and runs per measurement.
SIZE ?= 1GiB
RUNS ?= 5

.PHONY: datapath-tools
datapath-tools: ## Install and build what the data path needs: MariaDB, restic, rest-server, versitygw, restic 0.12.1 (Stash's).
	hack/apt.sh mariadb-server mariadb-client
	hack/tools.sh restic rest-server versitygw restic-0.12

.PHONY: build-mysql-addon
build-mysql-addon: ## Build the static addon binary the image copies (bin/linux-amd64/hoard-mysql-addon).
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" -o $(ADDON_BIN) ./cmd/mysql-addon

.PHONY: test-datapath
# vet, gofmt (lint) and the data path's unit tests (test-unit) run once, in their own tiers.
test-datapath: datapath-tools ## The addon against real MariaDB, restic and storage servers.
	@hack/preflight.sh datapath
	go test -count=1 -timeout 20m ./test/datapath/...

TEST_TARGETS += test-datapath

.PHONY: bench-datapath
bench-datapath: datapath-tools ## Time addon backup/restore against bare mysqldump/restic (SIZE=1GiB RUNS=5 by default).
	go run ./test/datapath/bench -size $(SIZE) -runs $(RUNS)
