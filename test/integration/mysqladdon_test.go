package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hoardv1alpha1 "github.com/hoard-operator/hoard/api/hoard/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/mysqladdon"
	"github.com/hoard-operator/hoard/test/envtestutil"
)

// addonChartDir is the chart the test loads from disk, as the operator does with
// --mysql-addon-chart.
func addonChartDir() string {
	return filepath.Join(envtestutil.RepoRoot(), "helm-charts", "mysql-addon")
}

// startAddonManager runs a manager with only the MySQLAddon controller until the test ends, so
// this test does not depend on (or disturb) the other controllers.
func startAddonManager(t *testing.T, releaseNamespace string) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, managerOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := mysqladdon.SetupWithManager(mgr, mysqladdon.Options{ChartPath: addonChartDir(), ReleaseNamespace: releaseNamespace}); err != nil {
		t.Fatal(err)
	}
	runManager(t, mgr)
}

// renderAddon renders the chart the way the reconciler installs it (release name = the
// resource's name, values = its spec) and returns the objects by kind/name.
func renderAddon(t *testing.T, release, namespace string, values map[string]any) map[string]*unstructured.Unstructured {
	t.Helper()
	chrt, err := mysqladdon.LoadChart(addonChartDir())
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.ReleaseName = release
	install.Namespace = namespace
	install.KubeVersion = &chartutil.KubeVersion{Version: "v1.35.0", Major: "1", Minor: "35"}
	rel, err := install.Run(chrt, values)
	if err != nil {
		t.Fatalf("render chart: %v", err)
	}
	objs := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(rel.Manifest)), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("rendered manifest: %v", err)
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: addonNormalize(t, m)}
		objs[u.GetKind()+"/"+u.GetName()] = u
	}
	return objs
}

// addonNormalize round-trips v through JSON so rendered (float64) and served (int64) numbers compare equal.
func addonNormalize(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// liveAddonObjects lists the Tasks and Functions of a release by its instance label.
func liveAddonObjects(ctx context.Context, t *testing.T, release string) map[string]*unstructured.Unstructured {
	t.Helper()
	objs := map[string]*unstructured.Unstructured{}
	for _, kind := range []string{"TaskList", "FunctionList"} {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("stash.appscode.com/v1beta1")
		list.SetKind(kind)
		if err := k8sClient.List(ctx, list, client.MatchingLabels{"app.kubernetes.io/instance": release}); err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			u := &list.Items[i]
			objs[u.GetKind()+"/"+u.GetName()] = &unstructured.Unstructured{Object: addonNormalize(t, u.Object)}
		}
	}
	return objs
}

// diffAddon describes how live differs from want (names, labels, spec), or "" when it matches.
func diffAddon(want, live map[string]*unstructured.Unstructured) string {
	var names []string
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		l, ok := live[k]
		if !ok {
			return "missing " + k
		}
		w := want[k]
		if !reflect.DeepEqual(w.Object["spec"], l.Object["spec"]) {
			return fmt.Sprintf("%s: spec differs:\nwant %v\ngot  %v", k, w.Object["spec"], l.Object["spec"])
		}
		for lk, lv := range w.GetLabels() {
			if l.GetLabels()[lk] != lv {
				return fmt.Sprintf("%s: label %s=%q, want %q", k, lk, l.GetLabels()[lk], lv)
			}
		}
	}
	for k := range live {
		if _, ok := want[k]; !ok {
			return "unexpected " + k
		}
	}
	return ""
}

// addonEventually polls cond until it returns "" or the timeout passes.
func addonEventually(t *testing.T, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestMySQLAddonInstallsUpgradesAndUninstallsTheChart(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "hoard-addon-"}}
	if err := k8sClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	startAddonManager(t, ns.Name)

	// Create: two versions, one under the name of Stash's MariaDB addon, and a non-default
	// wait timeout.
	addon := &unstructured.Unstructured{}
	addon.SetGroupVersionKind(hoardv1alpha1.GroupVersion.WithKind("MySQLAddon"))
	addon.SetName("mysql-it")
	spec := map[string]any{"versions": []any{"8.0.21", "10.11"}, "mariadb": map[string]any{"versions": []any{"10.5.8"}}, "waitTimeout": int64(120)}
	addon.Object["spec"] = spec
	if err := k8sClient.Create(ctx, addon, strict); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), addon) })

	want := renderAddon(t, addon.GetName(), ns.Name, spec)
	if len(want) != 2*2*2+2*2+1 {
		t.Fatalf("chart rendered %d objects, want 13 (backup+restore Task and Function per version, mysql and mariadb, update-status)", len(want))
	}
	for _, fn := range []string{"Function/mysql-backup-10.11", "Function/mariadb-backup-10.5.8", "Function/mariadb-restore-10.5.8"} {
		if args := want[fn].Object["spec"].(map[string]any)["args"]; !addonHasArg(args, "--wait-timeout=${waitTimeout:=120}") {
			t.Fatalf("rendered args of %s do not carry the wait timeout value: %v", fn, args)
		}
	}
	if steps := want["Task/mariadb-backup-10.5.8"].Object["spec"].(map[string]any)["steps"].([]any); len(steps) != 2 ||
		steps[0].(map[string]any)["name"] != "mariadb-backup-10.5.8" || steps[1].(map[string]any)["name"] != "update-status" {
		t.Fatalf("Task mariadb-backup-10.5.8 steps %v, want its Function then update-status", steps)
	}
	addonEventually(t, 60*time.Second, "the chart's Tasks and Functions", func() string {
		return diffAddon(want, liveAddonObjects(ctx, t, addon.GetName()))
	})
	addonEventually(t, 30*time.Second, "status Deployed=True", func() string {
		got := &hoardv1alpha1.MySQLAddon{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(addon), got); err != nil {
			return err.Error()
		}
		for _, c := range got.Status.Conditions {
			if c.Type == "Deployed" && c.Status == metav1.ConditionTrue {
				if got.Status.DeployedRelease == nil || got.Status.DeployedRelease.Name != addon.GetName() {
					return fmt.Sprintf("deployedRelease = %+v", got.Status.DeployedRelease)
				}
				return ""
			}
		}
		return fmt.Sprintf("conditions %+v", got.Status.Conditions)
	})

	// Update: drop 10.11 and every MariaDB name, add 8.4, change an image and the default dump
	// args.
	spec = map[string]any{
		"versions":    []any{"8.0.21", "8.4"},
		"mariadb":     map[string]any{"versions": []any{}},
		"waitTimeout": int64(45),
		"image":       map[string]any{"addon": map[string]any{"tag": "v9.9.9"}},
		"backup":      map[string]any{"args": "--all-databases --single-transaction"},
	}
	patch, _ := json.Marshal(map[string]any{"spec": spec})
	// A merge patch replaces the versions list and merges the maps, like the values would be.
	if err := k8sClient.Patch(ctx, addon, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
	want = renderAddon(t, addon.GetName(), ns.Name, spec)
	if img := want["Function/mysql-backup-8.4"].Object["spec"].(map[string]any)["image"]; img != "ghcr.io/hoard-operator/mysql-addon:v9.9.9" {
		t.Fatalf("rendered image %v", img)
	}
	if len(want) != 2*2*2+1 {
		t.Fatalf("chart rendered %d objects after mariadb.versions: [], want 9 (no mariadb-* left)", len(want))
	}
	addonEventually(t, 60*time.Second, "the upgraded Tasks and Functions", func() string {
		return diffAddon(want, liveAddonObjects(ctx, t, addon.GetName()))
	})

	// Delete: the reconciler's finalizer runs helm uninstall, which removes every object.
	if err := k8sClient.Delete(ctx, addon); err != nil {
		t.Fatal(err)
	}
	addonEventually(t, 60*time.Second, "uninstall", func() string {
		if live := liveAddonObjects(ctx, t, addon.GetName()); len(live) > 0 {
			return fmt.Sprintf("%d objects left", len(live))
		}
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(addon), &hoardv1alpha1.MySQLAddon{})
		if !apierrors.IsNotFound(err) {
			return fmt.Sprintf("MySQLAddon still there (err %v)", err)
		}
		return ""
	})
}

func addonHasArg(list any, s string) bool {
	items, _ := list.([]any)
	for _, i := range items {
		if i == s {
			return true
		}
	}
	return false
}
