##@ Metrics

# The metrics integration test pushes to a real Prometheus Pushgateway (Debian's package;
# hack/apt.sh keeps it from starting as a service). The test starts it on a free port.
PUSHGATEWAY ?= /usr/bin/prometheus-pushgateway

.PHONY: pushgateway-bin
pushgateway-bin: ## Install the Prometheus Pushgateway the metrics integration test pushes to.
	hack/apt.sh prometheus-pushgateway
	@test -x $(PUSHGATEWAY) || { echo "$(PUSHGATEWAY) missing after installing prometheus-pushgateway"; exit 1; }

test-integration: pushgateway-bin
test-integration: export HOARD_PUSHGATEWAY := $(PUSHGATEWAY)
