// Package envtestutil starts a real kube-apiserver and etcd (controller-runtime's envtest)
// with Hoard's CRDs installed, for the integration suites under test/.
package envtestutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the repository's top directory, found from this file's location so tests work
// from any package directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Start starts an API server with every CRD under config/crd/bases. The binaries come from
// KUBEBUILDER_ASSETS, or bin/ when unset (`make tools` puts them there).
func Start() (*envtest.Environment, *rest.Config, error) {
	root := RepoRoot()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, nil, fmt.Errorf("%s not found in %s: run `make tools` (or set KUBEBUILDER_ASSETS): %w", b, assets, err)
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("failed to start envtest: %w", err)
	}
	return env, cfg, nil
}
