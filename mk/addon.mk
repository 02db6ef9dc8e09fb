##@ MySQL addon (data path)

ADDON_BIN ?= $(BIN)/linux-amd64/hoard-mysql-addon
# Size of the database bench-datapath generates (e.g. SIZE=200MiB), and runs per measurement.
SIZE ?= 1GiB
RUNS ?= 5
DATAPATH_PKGS := ./internal/restic/... ./internal/mysql/... ./internal/addon/... ./cmd/mysql-addon/... ./test/datapath/...

.PHONY: datapath-tools
datapath-tools: ## Install and build what the data path needs: MariaDB, restic, rest-server, versitygw, restic 0.12.1 (Stash's).
	hack/apt.sh mariadb-server mariadb-client
	hack/tools.sh restic rest-server versitygw restic-0.12

.PHONY: build-mysql-addon
build-mysql-addon: ## Build the static addon binary the image copies (bin/linux-amd64/hoard-mysql-addon).
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" -o $(ADDON_BIN) ./cmd/mysql-addon

.PHONY: test-datapath
test-datapath: datapath-tools ## Unit tests, then the addon against real MariaDB, restic and storage servers.
	@hack/preflight.sh datapath
	go vet $(DATAPATH_PKGS)
	@test -z "$$(gofmt -l internal/restic internal/mysql internal/addon cmd/mysql-addon test/datapath)" || { gofmt -l internal/restic internal/mysql internal/addon cmd/mysql-addon test/datapath; echo "gofmt needed"; exit 1; }
	go test -count=1 ./internal/restic/... ./internal/mysql/... ./internal/addon/... ./cmd/mysql-addon/...
	go test -count=1 -timeout 20m ./test/datapath/...

TEST_TARGETS += test-datapath

.PHONY: bench-datapath
bench-datapath: datapath-tools ## Time addon backup/restore against bare mysqldump/restic (SIZE=1GiB RUNS=5 by default).
	go run ./test/datapath/bench -size $(SIZE) -runs $(RUNS)
