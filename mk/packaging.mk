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
helm-lint: $(HELM) ## Lint the Helm charts (strict).
	@for c in $(HELM_CHARTS); do $(HELM) lint --strict $$c; done

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
helm-sync: ## Copy the generated CRDs and ClusterRole rules into helm-charts/hoard.
	hack/packaging/sync-helm.sh

.PHONY: check-helm-sync
check-helm-sync: ## Fail when helm-charts/hoard's CRDs or RBAC rules differ from config/.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	hack/packaging/sync-helm.sh "$$tmp"; \
	if ! diff -ru "$$tmp/crds" helm-charts/hoard/crds || ! diff -u "$$tmp/files/manager-rules.yaml" helm-charts/hoard/files/manager-rules.yaml; then \
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

.PHONY: test-packaging
test-packaging: helm-lint check-tasks check-helm-sync ## Helm lint, tasks/ drift, bundle and catalog validation.

TEST_TARGETS += test-packaging
