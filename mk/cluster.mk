##@ Local cluster (real one-node Kubernetes on this machine; needs root)

.PHONY: cluster-deps
cluster-deps: ## Install what the local cluster needs (Debian packages, Kubernetes binaries); cluster-up runs it.
	hack/preflight.sh --install cluster

.PHONY: cluster-up
cluster-up: ## Start the local one-node cluster (idempotent); prints `export KUBECONFIG=...`.
	test/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and everything it started (state is kept).
	test/cluster/down.sh

.PHONY: cluster-purge
cluster-purge: ## Stop the local cluster and delete its state (etcd, images in containerd, volumes).
	test/cluster/down.sh --purge

.PHONY: cluster-smoke
cluster-smoke: ## Check the running local cluster: MariaDB via Service DNS, PVC, Jobs, logs.
	test/cluster/smoke.sh

# Static linux/amd64 binaries that the Dockerfiles copy (bin/linux-amd64/...); the addon's
# has its own rule (build-mysql-addon, mk/addon.mk).
.PHONY: image-binaries
image-binaries: build-mysql-addon
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o bin/linux-amd64/hoard ./cmd/hoard

.PHONY: images
images: image-binaries ## Build the operator, addon, MariaDB and rest-server images (buildah) and load them into the cluster.
	hack/images.sh all
