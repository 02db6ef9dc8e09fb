// Package envtestutil starts a real kube-apiserver and etcd (controller-runtime's envtest)
// with Hoard's CRDs installed, for the integration suites under test/.
package envtestutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the repository's top directory, found from this file's location so tests work
// from any package directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Env is a running API server and etcd.
type Env struct {
	env     *envtest.Environment
	etcdDir string
}

// Stop stops the API server and etcd and removes etcd's data.
func (e *Env) Stop() error {
	err := e.env.Stop()
	if e.etcdDir != "" {
		_ = os.RemoveAll(e.etcdDir)
	}
	return err
}

// Option changes how Start starts the API server.
type Option func(*envtest.Environment)

// WithAdmissionPlugins turns on these admission plugins besides the API server's defaults.
func WithAdmissionPlugins(names ...string) Option {
	return func(env *envtest.Environment) {
		env.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", strings.Join(names, ","))
	}
}

// Start starts an API server with every CRD under config/crd/bases. The binaries come from
// KUBEBUILDER_ASSETS, or bin/ when unset (`make tools` puts them there).
func Start(opts ...Option) (*Env, *rest.Config, error) {
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
	// etcd's fsyncs on this VM's disk dominate every write; on tmpfs the tests and benchmarks
	// measure the API server and the operator instead of the disk.
	for _, o := range opts {
		o(env)
	}
	e := &Env{env: env}
	if dir, err := os.MkdirTemp("/dev/shm", "hoard-etcd-"); err == nil {
		e.etcdDir = dir
		env.ControlPlane.Etcd = &envtest.Etcd{DataDir: dir}
	}
	cfg, err := env.Start()
	if err != nil {
		_ = e.Stop()
		return nil, nil, fmt.Errorf("failed to start envtest: %w", err)
	}
	return e, cfg, nil
}
