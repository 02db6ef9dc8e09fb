##@ End to end (real cluster; needs root for the local one)

.PHONY: e2e
e2e: ## The MySQL backup/restore guide on a real cluster (KUBECONFIG, else the local one): images, helm install, test.
	test/e2e/run.sh

.PHONY: demo
demo: ## Bring up a cluster (or use KUBECONFIG), install Hoard, back up and restore a sample MariaDB; leaves it running.
	hack/demo.sh

.PHONY: demo-down
demo-down: ## Remove the demo: namespace demo, the Hoard release, and stop the local cluster.
	hack/demo.sh down

# The e2e is part of `make test` (and so of CI): on a machine without a cluster it starts the
# local one and stops it again at the end.
TEST_TARGETS += e2e
