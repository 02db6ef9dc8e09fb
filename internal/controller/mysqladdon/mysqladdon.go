// Package mysqladdon reconciles MySQLAddon resources by installing the mysql-addon Helm chart
// with helm-operator-plugins' reconciler: the resource's spec is the chart's values, a spec
// change upgrades the release, and deletion uninstalls it (the reconciler holds a finalizer
// until `helm uninstall` has removed the Tasks and Functions).
package mysqladdon

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	helmclient "github.com/operator-framework/helm-operator-plugins/pkg/client"
	"github.com/operator-framework/helm-operator-plugins/pkg/reconciler"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hoardv1alpha1 "github.com/hoard-operator/hoard/api/hoard/v1alpha1"
	helmcharts "github.com/hoard-operator/hoard/helm-charts"
)

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// MySQLAddons (cluster-scoped): helm-operator-plugins reads them through the cache and updates
// them whole (its uninstall finalizer); `hoard delete-mysqladdon`, the chart's pre-delete hook
// run as the operator's ServiceAccount, deletes one.
// +kubebuilder:rbac:groups=addons.hoard.io,resources=mysqladdons,verbs=get;list;watch;update;delete
// +kubebuilder:rbac:groups=addons.hoard.io,resources=mysqladdons/status,verbs=update
// +kubebuilder:rbac:groups=addons.hoard.io,resources=mysqladdons/finalizers,verbs=update
// The addon's Tasks and Functions (cluster-scoped), applied by Helm: created, patched on an
// upgrade (updated whole when the MySQLAddon asks for a forced upgrade), deleted on uninstall,
// and watched as the release's dependents.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=tasks;functions,verbs=get;list;watch;create;update;patch;delete
// Helm keeps each release's history in Secrets of the release namespace, and
// helm-operator-plugins watches them. This is a Role in that namespace only (the operator's
// own, hoard-system here; the chart and the bundle put it in theirs), never a cluster-wide
// grant; the manager's cache watches Secrets in that namespace only.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete,namespace=hoard-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Options configure the MySQLAddon controller.
type Options struct {
	// ChartPath is a directory holding the mysql-addon chart; empty uses the chart built into
	// the binary.
	ChartPath string
	// ReleaseNamespace holds the Helm release records. MySQLAddon is cluster-scoped (like the
	// Tasks and Functions it installs), so its releases need a namespace chosen by the operator:
	// its own.
	ReleaseNamespace string
}

// GroupVersionKind of the reconciled resource.
var gvk = hoardv1alpha1.GroupVersion.WithKind("MySQLAddon")

// SetupWithManager registers the MySQLAddon reconciler with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.ReleaseNamespace == "" {
		return fmt.Errorf("mysqladdon: a release namespace is required")
	}
	chrt, err := LoadChart(opts.ChartPath)
	if err != nil {
		return err
	}
	releaseNamespace := func(client.Object) (string, error) { return opts.ReleaseNamespace, nil }
	acg, err := helmclient.NewActionConfigGetter(mgr.GetConfig(), mgr.GetRESTMapper(),
		helmclient.ClientNamespaceMapper(releaseNamespace),
		helmclient.StorageDriverMapper(helmclient.DefaultSecretsStorageDriver(helmclient.SecretsStorageDriverOpts{
			StorageNamespaceMapper: releaseNamespace,
		})),
	)
	if err != nil {
		return fmt.Errorf("mysqladdon: helm action config: %w", err)
	}
	// Failure rollbacks undo a half-applied install or upgrade, so a bad value leaves the
	// previous Tasks in place rather than a mix of both.
	acl, err := helmclient.NewActionClientGetter(acg, helmclient.WithFailureRollbacks(true))
	if err != nil {
		return fmt.Errorf("mysqladdon: helm action client: %w", err)
	}
	r, err := reconciler.New(
		reconciler.WithChart(*chrt),
		reconciler.WithGroupVersionKind(gvk),
		reconciler.WithActionClientGetter(acl),
		reconciler.WithLog(ctrl.Log.WithName("controllers").WithName("MySQLAddon")),
		// scheme.New registers the typed MySQLAddon; the reconciler's own registration (as
		// Unstructured under the same kind) would panic on that.
		reconciler.SkipPrimaryGVKSchemeRegistration(true),
	)
	if err != nil {
		return fmt.Errorf("mysqladdon: reconciler: %w", err)
	}
	return r.SetupWithManager(mgr)
}

// LoadChart loads the mysql-addon chart from dir, or from the copy built into the binary when
// dir is empty.
func LoadChart(dir string) (*chart.Chart, error) {
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("mysqladdon: chart directory: %w", err)
		}
		c, err := loader.LoadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("mysqladdon: load chart from %s: %w", dir, err)
		}
		return c, nil
	}
	const root = "mysql-addon"
	var files []*loader.BufferedFile
	err := fs.WalkDir(helmcharts.MySQLAddon, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(helmcharts.MySQLAddon, p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, root+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mysqladdon: read embedded chart: %w", err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("mysqladdon: load embedded chart: %w", err)
	}
	return c, nil
}
