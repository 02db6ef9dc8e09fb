package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoard-operator/hoard/internal/scheme"
)

// strict makes the API server reject unknown fields instead of pruning them silently, the way
// `kubectl apply` does by default: a field missing from a CRD would fail these tests.
var strict = client.FieldValidation("Strict")

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "api-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// readObjects reads every YAML document of a file.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if m == nil {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// normalize turns any value into plain JSON types so numbers and maps compare equal
// regardless of the decoder that produced them.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func diffJSON(t *testing.T, want, got any) string {
	t.Helper()
	var diffs []string
	walkDiff("", normalize(t, want), normalize(t, got), &diffs)
	return strings.Join(diffs, "\n")
}

// pruneZero removes false, "", empty maps and nulls from decoded JSON.
func pruneZero(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if p := pruneZero(e); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pruneZero(e)
		}
		return out
	case bool:
		if !x {
			return nil
		}
	case string:
		if x == "" {
			return nil
		}
	}
	return v
}

// walkDiff lists the JSON paths where want and got differ.
func walkDiff(path string, want, got any, diffs *[]string) {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		for k := range wm {
			walkDiff(path+"."+k, wm[k], gm[k], diffs)
		}
		for k := range gm {
			if _, ok := wm[k]; !ok {
				walkDiff(path+"."+k, nil, gm[k], diffs)
			}
		}
		return
	}
	wl, wok := want.([]any)
	gl, gok := got.([]any)
	if wok && gok && len(wl) == len(gl) {
		for i := range wl {
			walkDiff(fmt.Sprintf("%s[%d]", path, i), wl[i], gl[i], diffs)
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		*diffs = append(*diffs, fmt.Sprintf("  %s: want %s, got %s", path, wb, gb))
	}
}

func TestCRDsInstalled(t *testing.T) {
	type crdWant struct {
		scope      apiextensionsv1.ResourceScope
		shortNames []string
		category   string
		status     bool
		columns    []string
	}
	wants := map[string]crdWant{
		"repositories.stash.appscode.com":         {apiextensionsv1.NamespaceScoped, []string{"repo"}, "stash", true, []string{"Integrity", "Size", "Snapshot-Count", "Last-Successful-Backup", "Age"}},
		"backupconfigurations.stash.appscode.com": {apiextensionsv1.NamespaceScoped, []string{"bc"}, "stash", true, []string{"Task", "Schedule", "Paused", "Phase", "Age"}},
		"backupsessions.stash.appscode.com":       {apiextensionsv1.NamespaceScoped, nil, "stash", true, []string{"Invoker-Type", "Invoker-Name", "Phase", "Duration", "Age"}},
		"restoresessions.stash.appscode.com":      {apiextensionsv1.NamespaceScoped, []string{"restore"}, "stash", true, []string{"Repository", "Phase", "Duration", "Age"}},
		"tasks.stash.appscode.com":                {apiextensionsv1.ClusterScoped, nil, "stash", false, nil},
		"functions.stash.appscode.com":            {apiextensionsv1.ClusterScoped, []string{"fn"}, "stash", false, nil},
		"backupblueprints.stash.appscode.com":     {apiextensionsv1.ClusterScoped, []string{"bb"}, "stash", false, nil},
		"appbindings.appcatalog.appscode.com":     {apiextensionsv1.NamespaceScoped, nil, "catalog", false, []string{"Type", "Version", "Age"}},
	}
	s := scheme.New()
	_ = apiextensionsv1.AddToScheme(s)
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range wants {
		t.Run(name, func(t *testing.T) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.Get(context.Background(), client.ObjectKey{Name: name}, &crd); err != nil {
				t.Fatalf("CRD not installed: %v", err)
			}
			established := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				t.Errorf("CRD is not Established")
			}
			if crd.Spec.Scope != want.scope {
				t.Errorf("scope = %s, want %s", crd.Spec.Scope, want.scope)
			}
			if !reflect.DeepEqual(crd.Spec.Names.ShortNames, want.shortNames) {
				t.Errorf("shortNames = %v, want %v", crd.Spec.Names.ShortNames, want.shortNames)
			}
			if !reflect.DeepEqual(crd.Spec.Names.Categories, []string{want.category}) {
				t.Errorf("categories = %v, want [%s]", crd.Spec.Names.Categories, want.category)
			}
			if len(crd.Spec.Versions) != 1 {
				t.Fatalf("versions = %d, want 1", len(crd.Spec.Versions))
			}
			v := crd.Spec.Versions[0]
			if hasStatus := v.Subresources != nil && v.Subresources.Status != nil; hasStatus != want.status {
				t.Errorf("status subresource = %v, want %v", hasStatus, want.status)
			}
			// What kubectl get shows by default is Stash's; Hoard's extras are for -o wide.
			var cols []string
			for _, col := range v.AdditionalPrinterColumns {
				if col.Priority == 0 {
					cols = append(cols, col.Name)
				}
			}
			if want.columns != nil && !reflect.DeepEqual(cols, want.columns) {
				t.Errorf("printer columns = %v, want %v", cols, want.columns)
			}
		})
	}
}

// TestRoundTrip creates an object carrying every field of the reference and reads it back:
// the API server must keep every field (no pruning), and Hoard's Go types must decode and
// re-encode it unchanged.
func TestRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/full/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	ns := newNamespace(t)
	s := scheme.New()
	ctx := context.Background()
	seenKinds := map[string]bool{}
	for _, file := range files {
		for _, want := range readObjects(t, file) {
			name := filepath.Base(file) + "/" + want.GetKind()
			t.Run(name, func(t *testing.T) {
				seenKinds[want.GetKind()] = true
				obj := want.DeepCopy()
				status, hasStatus := obj.Object["status"]
				delete(obj.Object, "status")
				namespaced, err := k8sClient.IsObjectNamespaced(obj)
				if err != nil {
					t.Fatal(err)
				}
				if namespaced {
					obj.SetNamespace(ns)
				}
				if err := k8sClient.Create(ctx, obj, strict); err != nil {
					t.Fatalf("create: %v", err)
				}
				t.Cleanup(func() { _ = k8sClient.Delete(ctx, obj) })
				if hasStatus {
					obj.Object["status"] = status
					if err := k8sClient.Status().Update(ctx, obj, strict); err != nil {
						t.Fatalf("update status: %v", err)
					}
				}
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(want.GroupVersionKind())
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
					t.Fatalf("get: %v", err)
				}
				for key := range want.Object {
					if key == "metadata" || key == "apiVersion" || key == "kind" {
						continue
					}
					if d := diffJSON(t, want.Object[key], got.Object[key]); d != "" {
						t.Errorf("%s changed on the API server:\n%s", key, d)
					}
				}
				if !reflect.DeepEqual(got.GetLabels(), want.GetLabels()) {
					t.Errorf("labels = %v, want %v", got.GetLabels(), want.GetLabels())
				}

				typed, err := s.New(want.GroupVersionKind())
				if err != nil {
					t.Fatalf("kind not in Hoard's scheme: %v", err)
				}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), typed.(client.Object)); err != nil {
					t.Fatalf("typed get: %v", err)
				}
				var typedMap map[string]any
				b, _ := json.Marshal(typed)
				_ = json.Unmarshal(b, &typedMap)
				for key := range want.Object {
					if key == "metadata" || key == "apiVersion" || key == "kind" {
						continue
					}
					// Go's omitempty drops false, "" and {}, which the API treats as unset.
					if d := diffJSON(t, pruneZero(normalize(t, want.Object[key])), pruneZero(normalize(t, typedMap[key]))); d != "" {
						t.Errorf("%s changed through the Go type:\n%s", key, d)
					}
				}
			})
		}
	}
	for _, kind := range []string{"Repository", "BackupConfiguration", "BackupSession", "RestoreSession", "Task", "Function", "BackupBlueprint", "AppBinding"} {
		if !seenKinds[kind] {
			t.Errorf("no round-trip fixture for %s", kind)
		}
	}
}

// TestUpstreamManifestsAccepted applies manifests written for upstream Stash, with strict
// field validation as kubectl does.
func TestUpstreamManifestsAccepted(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	for _, obj := range readObjects(t, "testdata/upstream/mysql-guide.yaml") {
		t.Run(obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
			namespaced, err := k8sClient.IsObjectNamespaced(obj)
			if err != nil {
				t.Fatal(err)
			}
			if namespaced {
				obj.SetNamespace(ns)
			}
			if err := k8sClient.Create(ctx, obj, strict); err != nil {
				t.Fatalf("upstream manifest rejected: %v", err)
			}
			t.Cleanup(func() { _ = k8sClient.Delete(ctx, obj) })
		})
	}
}

func TestInvalidObjectsRejected(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name string
		yaml string
		// every string must appear in the API server's error
		want []string
	}{
		{
			name: "two backend providers",
			yaml: `
apiVersion: stash.appscode.com/v1alpha1
kind: Repository
metadata: {name: two-providers}
spec:
  backend:
    storageSecretName: s
    s3: {endpoint: s3.amazonaws.com, bucket: b}
    gcs: {bucket: b}`,
			want: []string{"spec.backend", "exactly one backend provider"},
		},
		{
			name: "no backend provider",
			yaml: `
apiVersion: stash.appscode.com/v1alpha1
kind: Repository
metadata: {name: no-provider}
spec:
  backend:
    storageSecretName: s`,
			want: []string{"spec.backend", "exactly one backend provider"},
		},
		{
			name: "negative keepLast",
			yaml: `
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: negative-keep}
spec:
  schedule: "*/5 * * * *"
  repository: {name: r}
  retentionPolicy: {name: p, keepLast: -1}`,
			want: []string{"spec.retentionPolicy.keepLast", "greater than or equal to 0"},
		},
		{
			name: "negative backupHistoryLimit",
			yaml: `
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: negative-history}
spec:
  schedule: "@hourly"
  backupHistoryLimit: -2`,
			want: []string{"spec.backupHistoryLimit", "greater than or equal to 0"},
		},
		{
			name: "garbage schedule",
			yaml: `
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: garbage-schedule}
spec:
  schedule: "every now and then"`,
			want: []string{"spec.schedule", "5-field cron expression"},
		},
		{
			name: "six-field schedule",
			yaml: `
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: six-fields}
spec:
  schedule: "0 */5 * * * *"`,
			want: []string{"spec.schedule", "5-field cron expression"},
		},
		{
			name: "unknown driver",
			yaml: `
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: bad-driver}
spec:
  driver: Velero`,
			want: []string{"spec.driver", `Unsupported value: "Velero"`},
		},
		{
			name: "missing invoker kind",
			yaml: `
apiVersion: stash.appscode.com/v1beta1
kind: BackupSession
metadata: {name: no-kind}
spec:
  invoker: {apiGroup: stash.appscode.com, name: bc}`,
			want: []string{"spec.invoker.kind", "Required value"},
		},
		{
			name: "unknown session phase",
			yaml: `
apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
metadata: {name: bad-phase}
spec:
  driver: Snapshotty`,
			want: []string{"spec.driver", "Unsupported value"},
		},
		{
			name: "AppBinding without service or url",
			yaml: `
apiVersion: appcatalog.appscode.com/v1alpha1
kind: AppBinding
metadata: {name: nowhere}
spec:
  type: mysql
  secret: {name: auth}`,
			want: []string{"spec", "clientConfig must set url or service"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.yaml), &obj.Object); err != nil {
				t.Fatal(err)
			}
			obj.SetNamespace(ns)
			err := k8sClient.Create(context.Background(), obj)
			if err == nil {
				_ = k8sClient.Delete(context.Background(), obj)
				t.Fatalf("invalid object was accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err.Error(), w)
				}
			}
		})
	}
}
