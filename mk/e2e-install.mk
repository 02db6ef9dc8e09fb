##@ Install paths (real cluster; needs root for the local one)

.PHONY: e2e-install
e2e-install: ## Install Hoard with `kubectl apply -k` and through OLM on the real cluster, back up and restore, uninstall (test/install/run.sh).
	test/install/run.sh

# Part of `make test` (and so of CI), after the e2e tier: this file is read before mk/e2e.mk,
# so the order is set here. Alone, `make e2e-install` does not run the e2e.
TEST_TARGETS += e2e-install
ifneq ($(filter test,$(MAKECMDGOALS)),)
e2e-install: | e2e
endif
