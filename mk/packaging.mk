##@ Packaging

HELM := $(BIN)/helm
HELM_CHARTS := helm-charts/mysql-addon helm-charts/hoard
VERSION ?= 0.1.0
IMG_TAG ?= dev
IMG ?= ghcr.io/hoard-operator/hoard:$(IMG_TAG)
DIST := $(ROOT)/dist

$(HELM): hack/tools/helm/go.mod hack/tools/helm/go.sum
	hack/tools.sh helm

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm charts (strict), and the hoard chart with its optional monitoring on.
	@for c in $(HELM_CHARTS); do $(HELM) lint --strict $$c; done
	$(HELM) lint --strict helm-charts/hoard --set serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,pushgateway.enabled=true

.PHONY: tasks
tasks: $(HELM) ## Regenerate tasks/ (plain YAML of the MySQL addon's Tasks and Functions) from its chart.
	hack/packaging/gen-tasks.sh

.PHONY: check-tasks
check-tasks: $(HELM) ## Fail when tasks/ differs from what the chart renders.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	hack/packaging/gen-tasks.sh "$$tmp"; \
	if ! diff -u tasks/mysql-addon.yaml "$$tmp/mysql-addon.yaml"; then \
	  echo "tasks/ is stale: run 'make tasks' and commit"; exit 1; fi

.PHONY: helm-sync
helm-sync: ## Copy the generated CRDs, ClusterRole rules and the admission guard into helm-charts/hoard.
	hack/packaging/sync-helm.sh

.PHONY: check-helm-sync
check-helm-sync: ## Fail when helm-charts/hoard's CRDs, RBAC rules or admission guard differ from config/.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	hack/packaging/sync-helm.sh "$$tmp"; \
	if ! diff -ru "$$tmp/crds" helm-charts/hoard/crds || ! diff -ru "$$tmp/files" helm-charts/hoard/files; then \
	  echo "helm-charts/hoard is stale: run 'make helm-sync' and commit"; exit 1; fi

.PHONY: helm-package
helm-package: $(HELM) helm-sync ## Package both charts into dist/.
	@mkdir -p $(DIST)
	@for c in $(HELM_CHARTS); do $(HELM) package $$c --destination $(DIST); done

.PHONY: docker-build
docker-build: ## Build the operator and addon images with buildah (hack/images.sh).
	hack/images.sh operator mysql-addon

.PHONY: deploy
deploy: ## Install Hoard into the current kubectl context (kubectl apply -k config/default).
	kubectl apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove what `make deploy` installed.
	kubectl delete --ignore-not-found -k config/default

.PHONY: check-rbac
check-rbac: $(HELM) ## Fail when what config/rbac, the chart or the bundle grants the operator differs from test/packaging/testdata/rbac.golden.
	HOARD_HELM=$(HELM) go test -count=1 ./test/packaging/...

.PHONY: test-packaging
test-packaging: helm-lint check-tasks check-helm-sync check-olm check-rbac ## Helm lint, tasks/ drift, bundle and catalog validation, the operator's RBAC.

TEST_TARGETS += test-packaging

##@ OLM

BUNDLECHECK := $(BIN)/bundlecheck
BUNDLE_IMG ?= ghcr.io/hoard-operator/hoard-bundle:v$(VERSION)
CATALOG_IMG ?= ghcr.io/hoard-operator/hoard-catalog:v$(VERSION)
CHANNEL ?= candidate

# A separate module (hack/bundlecheck) keeps operator-framework's dependencies out of go.mod;
# operator-sdk and opm are not available from the Go proxy here, so their generation and
# validation is done with the same libraries they use (operator-framework/api, operator-registry).
.PHONY: $(BUNDLECHECK)
$(BUNDLECHECK):
	cd hack/bundlecheck && CGO_ENABLED=0 go build -o $(BUNDLECHECK) .

.PHONY: bundle
bundle: $(BUNDLECHECK) ## Generate bundle/ and bundle.Dockerfile from config/, then validate.
	$(BUNDLECHECK) bundle -root . -version $(VERSION) -image $(IMG) -channel $(CHANNEL) -out bundle -dockerfile bundle.Dockerfile
	$(BUNDLECHECK) validate-bundle bundle

.PHONY: catalog
catalog: $(BUNDLECHECK) ## Generate the file-based catalog catalog/ from bundle/, then validate.
	$(BUNDLECHECK) catalog -bundle bundle -bundle-image $(BUNDLE_IMG) -channel $(CHANNEL) -out catalog
	$(BUNDLECHECK) validate-catalog catalog

.PHONY: check-olm
check-olm: $(BUNDLECHECK) ## Validate bundle/ and catalog/ and fail when they differ from config/.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUNDLECHECK) bundle -root . -version $(VERSION) -image $(IMG) -channel $(CHANNEL) -out "$$tmp/bundle" -dockerfile "$$tmp/bundle.Dockerfile"; \
	$(BUNDLECHECK) catalog -bundle "$$tmp/bundle" -bundle-image $(BUNDLE_IMG) -channel $(CHANNEL) -out "$$tmp/catalog"; \
	if ! diff -ru "$$tmp/bundle" bundle || ! diff -u "$$tmp/bundle.Dockerfile" bundle.Dockerfile || ! diff -ru "$$tmp/catalog" catalog >/dev/null; then \
	  echo "bundle/ or catalog/ is stale: run 'make bundle catalog' and commit"; exit 1; fi
	$(BUNDLECHECK) validate-bundle bundle
	$(BUNDLECHECK) validate-catalog catalog

.PHONY: bundle-build
bundle-build: ## Build the bundle image with buildah.
	buildah bud --pull=false -f bundle.Dockerfile -t $(BUNDLE_IMG) .

