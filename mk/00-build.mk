##@ Build

GO_PACKAGES := ./...
CONTROLLER_GEN := $(BIN)/controller-gen

$(CONTROLLER_GEN): hack/tools/controller-gen/go.mod hack/tools/controller-gen/go.sum
	hack/tools.sh controller-gen

.PHONY: tools
tools: ## Build every pinned tool into bin/ (cached in ~/.cache/hoard).
	hack/tools.sh all

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code from the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC into config/.
	$(CONTROLLER_GEN) crd:maxDescLen=400 paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=hoard-manager-role paths=./internal/... output:rbac:artifacts:config=config/rbac

# Each binary has one rule; other targets depend on it instead of building it again.
.PHONY: build
build: operator mysql-addon plugin ## Build the operator, the MySQL addon and the kubectl plugin into bin/.

.PHONY: operator
operator: ## Build the operator into bin/hoard.
	CGO_ENABLED=0 go build -trimpath -o bin/hoard ./cmd/hoard

.PHONY: mysql-addon
mysql-addon: ## Build the MySQL addon into bin/hoard-mysql-addon.
	CGO_ENABLED=0 go build -trimpath -o bin/hoard-mysql-addon ./cmd/mysql-addon

.PHONY: plugin
plugin: ## Build the kubectl plugin (kubectl hoard) into bin/kubectl-hoard.
	CGO_ENABLED=0 go build -trimpath -o bin/kubectl-hoard ./cmd/kubectl-hoard

##@ Check

.PHONY: fmt
fmt: ## Format Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	go vet $(GO_PACKAGES)

.PHONY: check-fmt
check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: check-generate
check-generate: generate manifests ## Fail when generated files are stale.
	@git add -N config api >/dev/null 2>&1 || true
	@if ! git diff --exit-code --stat -- api config; then echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; fi

GOLANGCI_LINT := $(BIN)/golangci-lint

$(GOLANGCI_LINT): hack/tools/golangci-lint/go.mod hack/tools/golangci-lint/go.sum
	hack/tools.sh golangci-lint

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml).
	$(GOLANGCI_LINT) run ./...

.PHONY: lint
lint: check-fmt vet golangci-lint check-generate ## gofmt, go vet, golangci-lint, generated files up to date.

TEST_TARGETS += lint
