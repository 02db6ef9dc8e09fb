##@ Test

ENVTEST_ASSETS := $(BIN)/kube-apiserver $(BIN)/etcd

$(BIN)/kube-apiserver: hack/tools/kube/go.mod hack/tools/kube/go.sum
	hack/tools.sh kube-apiserver
$(BIN)/etcd: hack/tools/etcd/go.mod hack/tools/etcd/go.sum
	hack/tools.sh etcd

.PHONY: test-unit
test-unit: ## Unit tests (no external processes).
	go test -count=1 $$(go list ./... | grep -v '^github.com/hoard-operator/hoard/test/') ./test/internal/...

.PHONY: test-integration
test-integration: $(ENVTEST_ASSETS) ## Controller and API tests on a real kube-apiserver + etcd.
	@hack/preflight.sh integration
	KUBEBUILDER_ASSETS=$(BIN) go test -count=1 -timeout 20m ./test/integration/...

TEST_TARGETS += test-unit test-integration
