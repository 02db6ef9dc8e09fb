##@ Host (what the machine needs; see hack/preflight.sh)

# A fresh Debian has neither git (lint's `git ls-files` and `git diff`) nor CA certificates (the
# Go module proxy is HTTPS), and every target below starts with go or git: each one first makes
# sure they are there. A new target that runs go, git or hack/tools.sh belongs on this list.
HOST_DEPS_USERS := fmt vet check-fmt check-generate generate manifests build tools \
  $(BIN)/controller-gen $(BIN)/golangci-lint golangci-lint \
  $(BIN)/kube-apiserver $(BIN)/etcd test-unit test-integration \
  datapath-tools build-mysql-addon test-datapath bench-datapath bench-restore bench-binlog bench-controller \
  cluster-deps cluster-up image-binaries images docker-build e2e e2e-install demo \
  $(BIN)/helm $(BIN)/bundlecheck bundle catalog check-olm check-rbac test-packaging \
  $(BIN)/promtool monitoring check-monitoring test-alerts

# Order-only: a bin/ tool is not rebuilt because this ran.
$(HOST_DEPS_USERS): | host-deps

.PHONY: host-deps
host-deps: ## Install the Debian packages every target needs first (git, ca-certificates; make and Go you bring).
	@hack/preflight.sh --install host

.PHONY: preflight
preflight: ## Check that every program `make test` and `make demo` run is installed (bin/ links resolve); installs nothing.
	@hack/preflight.sh host client integration alerts datapath cluster images olm

.PHONY: test-fresh-machine
test-fresh-machine: ## Prove the install steps from nothing: a debootstrap'd Debian chroot (root; ~30 min; not part of make test).
	test/freshmachine/run.sh
