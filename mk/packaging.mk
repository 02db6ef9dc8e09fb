##@ Packaging

HELM := $(BIN)/helm
HELM_CHARTS := helm-charts/mysql-addon

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

.PHONY: test-packaging
test-packaging: helm-lint check-tasks ## Helm lint, tasks/ drift, bundle and catalog validation.

TEST_TARGETS += test-packaging
