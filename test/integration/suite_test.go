// Package integration holds tests that run against a real kube-apiserver and etcd.
package integration

import (
	"fmt"
	"io"
	"os"
	"testing"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/hoard-operator/hoard/internal/scheme"
	"github.com/hoard-operator/hoard/test/envtestutil"
)

var (
	cfg       *rest.Config
	k8sClient client.Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Controller logs go to stderr only when asked for: HOARD_TEST_LOG=1 go test ...
	logOut := io.Discard
	if os.Getenv("HOARD_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut), zap.UseDevMode(true)))
	// OwnerReferencesPermissionEnforcement, as OpenShift runs it: changing an object's
	// ownerReferences needs delete on it (TestOLMOwnership).
	env, c, err := envtestutil.Start(envtestutil.WithAdmissionPlugins("OwnerReferencesPermissionEnforcement"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "failed to stop envtest:", err)
		}
	}()
	cfg = c
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
