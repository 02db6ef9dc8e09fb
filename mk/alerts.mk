##@ Alerts and dashboard

# The alert rules, runbooks and Grafana dashboard are generated from internal/monitoring into
# config/prometheus, config/grafana, the hoard chart and docs/runbooks.md (hack/gen-monitoring).
# promtool, built from the pinned Prometheus module, validates the rules and runs their unit
# tests (test/alerts).
PROMTOOL := $(BIN)/promtool
MONITORING_FILES := config/prometheus/hoard-rules.yaml config/prometheus/prometheusrule.yaml \
  config/grafana/hoard-dashboard.json helm-charts/hoard/templates/prometheusrule.yaml \
  helm-charts/hoard/dashboards/hoard-backups.json docs/runbooks.md

$(PROMTOOL): hack/tools/promtool/go.mod hack/tools/promtool/go.sum
	hack/tools.sh promtool

.PHONY: monitoring
monitoring: ## Regenerate the alert rules, runbooks and dashboard from internal/monitoring.
	go run ./hack/gen-monitoring

.PHONY: check-monitoring
check-monitoring: ## Fail when a generated alert rule, runbook or dashboard file differs from internal/monitoring.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	go run ./hack/gen-monitoring "$$tmp"; \
	for f in $(MONITORING_FILES); do \
	  diff -u "$$f" "$$tmp/$$f" || { echo "$$f is stale: run 'make monitoring' and commit"; exit 1; }; \
	done

.PHONY: test-alerts
test-alerts: $(PROMTOOL) check-monitoring ## promtool check and unit tests of the alert rules, promtool parses the dashboard's queries; their metric names.
	@hack/preflight.sh alerts
	$(PROMTOOL) check rules config/prometheus/hoard-rules.yaml
	$(PROMTOOL) test rules test/alerts/*.test.yaml
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	go run ./hack/gen-monitoring --dashboard-queries "$$tmp/dashboard-queries.yaml"; \
	echo "$(PROMTOOL) check rules <the dashboard's queries>"; \
	$(PROMTOOL) check rules "$$tmp/dashboard-queries.yaml"
# The Go tests of internal/monitoring (metric names of the rules and dashboard) run in test-unit.

# The generated chart files are part of the chart: test-packaging checks they are current.
test-packaging: check-monitoring

TEST_TARGETS += test-alerts
