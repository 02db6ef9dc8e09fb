package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/repository"
	"github.com/hoard-operator/hoard/internal/guard"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/scheme"
	"github.com/hoard-operator/hoard/test/envtestutil"
)

// guardTestLabel narrows the shipped binding to this test's namespaces, so that the other
// tests of the suite (which create objects with every field set) are not refused.
const guardTestLabel = "hoard.io/guard-test"

// installGuard creates the admission guard from the YAML the chart and config/ ship (through
// package guard, which the operator applies under OLM), its binding narrowed to namespaces
// labelled guardTestLabel, and returns a guarded namespace and a relaxed one.
func installGuard(t *testing.T) (guarded, relaxed string) {
	t.Helper()
	ctx := context.Background()
	policy, binding, err := guard.Objects()
	if err != nil {
		t.Fatal(err)
	}
	sel := binding.Spec.MatchResources.NamespaceSelector
	if sel == nil || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != guard.RelaxLabel {
		t.Fatalf("shipped binding's namespaceSelector is %+v, want one expression on %s", sel, guard.RelaxLabel)
	}
	sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: guardTestLabel, Operator: metav1.LabelSelectorOpExists})
	for _, obj := range []client.Object{policy, binding} {
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatalf("create %s: %v", obj.GetName(), err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
	}
	guarded = labelledNamespace(t, map[string]string{guardTestLabel: "true"})
	relaxed = labelledNamespace(t, map[string]string{guardTestLabel: "true", guard.RelaxLabel: guard.RelaxValue})

	// The policy takes effect once the API server's informers have it.
	probe := guardObject(t, "BackupConfiguration", `
runtimeSettings:
  pod:
    nodeName: probe`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := createIn(guarded, probe)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guard refused nothing after 30s (last answer: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The expressions compile against every kind they match without warnings.
	got := &admissionv1.ValidatingAdmissionPolicy{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(policy), got); err != nil {
		t.Fatal(err)
	}
	if tc := got.Status.TypeChecking; tc != nil && len(tc.ExpressionWarnings) > 0 {
		t.Errorf("type checking warnings: %+v", tc.ExpressionWarnings)
	}
	return guarded, relaxed
}

// removeGuardAfter deletes the operator's guard (policy and binding) when t ends, and waits
// until it no longer refuses: later tests create objects it refuses. It returns the namespace
// it probes in. That namespace exists before the guard is applied, and awaitGuard(t, ns, true)
// should see the guard refuse there first: a namespace the API server's admission informers
// have not seen yet can let the probe through while the guard still refuses elsewhere.
func removeGuardAfter(t *testing.T, policy, binding client.Object) string {
	t.Helper()
	plain := newNamespace(t)
	t.Cleanup(func() {
		_ = k8sClient.Delete(context.Background(), binding)
		_ = k8sClient.Delete(context.Background(), policy)
		awaitGuard(t, plain, false)
	})
	return plain
}

// awaitGuard waits up to 30s until the guard refuses (on) or accepts (!on) an object it
// refuses whenever it runs, in namespace ns.
func awaitGuard(t *testing.T, ns string, on bool) {
	t.Helper()
	probe := guardObject(t, "BackupConfiguration", "runtimeSettings: {pod: {nodeName: probe}}")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := createIn(ns, probe)
		refused := apierrors.IsInvalid(err) || apierrors.IsForbidden(err)
		if refused == on && (on || err == nil) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the guard in namespace %s: want refusing=%v after 30s, last answer: %v", ns, on, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func labelledNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "guard-", Labels: labels}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return ns.Name
}

// guardBases are minimal valid objects of each kind the guard checks; a case adds to the spec.
var guardBases = map[string]string{
	"BackupConfiguration": `
apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
spec:
  schedule: "@daily"
  repository: {name: repo}
  target: {ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: db}}`,
	"RestoreSession": `
apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
spec:
  repository: {name: repo}
  target: {ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding, name: db}}`,
	"BackupBlueprint": `
apiVersion: stash.appscode.com/v1beta1
kind: BackupBlueprint
spec:
  schedule: "@daily"
  backend:
    storageSecretName: storage
    s3: {endpoint: s3.example.com, bucket: b}`,
	"Repository": `
apiVersion: stash.appscode.com/v1alpha1
kind: Repository
spec:
  backend:
    storageSecretName: storage`,
	"AppBinding": `
apiVersion: appcatalog.appscode.com/v1alpha1
kind: AppBinding
spec:
  clientConfig: {url: "tcp(db:3306)/"}
  secret: {name: db}`,
}

// guardObject builds an object of kind whose spec is the base's merged with spec (YAML).
func guardObject(t *testing.T, kind, spec string) *unstructured.Unstructured {
	t.Helper()
	obj := map[string]any{}
	if err := yaml.Unmarshal([]byte(guardBases[kind]), &obj); err != nil {
		t.Fatal(err)
	}
	extra := map[string]any{}
	if err := yaml.Unmarshal([]byte(spec), &extra); err != nil {
		t.Fatalf("case spec: %v", err)
	}
	base := obj["spec"].(map[string]any)
	for k, v := range extra {
		if m, ok := v.(map[string]any); ok {
			if bm, ok := base[k].(map[string]any); ok {
				for k2, v2 := range m {
					bm[k2] = v2
				}
				continue
			}
		}
		base[k] = v
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetGenerateName("guard-")
	return u
}

// createIn creates a copy of obj in ns as a dry run: admission runs, nothing is stored.
func createIn(ns string, obj *unstructured.Unstructured) error {
	o := obj.DeepCopy()
	if o.GetKind() != "BackupBlueprint" {
		o.SetNamespace(ns)
	}
	return k8sClient.Create(context.Background(), o, client.DryRunAll)
}

func TestAdmissionGuard(t *testing.T) {
	guarded, relaxed := installGuard(t)

	refused := []struct {
		kind, spec string
		// field must appear in the refusal
		field string
	}{
		{"BackupConfiguration", "runtimeSettings: {pod: {serviceAccountName: admin}}", "spec.runtimeSettings.pod.serviceAccountName"},
		{"BackupConfiguration", "runtimeSettings: {pod: {automountServiceAccountToken: true}}", "spec.runtimeSettings.pod.automountServiceAccountToken"},
		{"BackupConfiguration", "runtimeSettings: {pod: {nodeName: node-1}}", "spec.runtimeSettings.pod.nodeName"},
		{"BackupConfiguration", "runtimeSettings: {pod: {securityContext: {runAsUser: 0}}}", "spec.runtimeSettings.pod.securityContext.runAsUser"},
		{"BackupConfiguration", "runtimeSettings: {pod: {securityContext: {runAsNonRoot: false}}}", "spec.runtimeSettings.pod.securityContext.runAsNonRoot"},
		{"BackupConfiguration", "runtimeSettings: {pod: {securityContext: {seccompProfile: {type: Unconfined}}}}", "spec.runtimeSettings.pod.securityContext: an Unconfined seccompProfile"},
		{"BackupConfiguration", "runtimeSettings: {pod: {securityContext: {windowsOptions: {hostProcess: true}}}}", "spec.runtimeSettings.pod.securityContext.windowsOptions.hostProcess"},
		{"BackupConfiguration", "runtimeSettings: {container: {securityContext: {privileged: true}}}", "spec.runtimeSettings.container.securityContext.privileged"},
		{"BackupConfiguration", "runtimeSettings: {container: {securityContext: {allowPrivilegeEscalation: true}}}", "spec.runtimeSettings.container.securityContext.allowPrivilegeEscalation"},
		{"BackupConfiguration", "runtimeSettings: {container: {securityContext: {runAsUser: 0}}}", "spec.runtimeSettings.container.securityContext.runAsUser"},
		{"BackupConfiguration", "runtimeSettings: {container: {securityContext: {runAsNonRoot: false}}}", "spec.runtimeSettings.container.securityContext.runAsNonRoot"},
		{"BackupConfiguration", "runtimeSettings: {container: {securityContext: {capabilities: {add: [NET_RAW]}}}}", "spec.runtimeSettings.container.securityContext.capabilities.add"},
		{"BackupConfiguration", "runtimeSettings: {container: {securityContext: {procMount: Unmasked}}}", "spec.runtimeSettings.container.securityContext.procMount"},
		{"BackupConfiguration", "runtimeSettings: {container: {securityContext: {appArmorProfile: {type: Unconfined}}}}", "spec.runtimeSettings.container.securityContext: an Unconfined seccompProfile or appArmorProfile"},
		{"BackupConfiguration", "runtimeSettings: {container: {lifecycle: {postStart: {exec: {command: [sh, -c, 'cat /etc/hoard/target/password']}}}}}", "spec.runtimeSettings.container.lifecycle"},
		{"BackupConfiguration", "runtimeSettings: {container: {lifecycle: {preStop: {httpGet: {port: 80}}}}}", "spec.runtimeSettings.container.lifecycle"},
		{"BackupConfiguration", "runtimeSettings: {container: {livenessProbe: {exec: {command: [cat, /etc/repository/secret/RESTIC_PASSWORD]}}}}", "spec.runtimeSettings.container.livenessProbe.exec"},
		{"BackupConfiguration", "runtimeSettings: {container: {readinessProbe: {exec: {command: ['true']}}}}", "spec.runtimeSettings.container.readinessProbe.exec"},
		{"BackupConfiguration", "runtimeSettings: {container: {envFrom: [{secretRef: {name: other}}]}}", "spec.runtimeSettings.container.envFrom"},
		{"BackupConfiguration", "runtimeSettings: {container: {envFrom: [{configMapRef: {name: other}}]}}", "spec.runtimeSettings.container.envFrom"},
		{"BackupConfiguration", "runtimeSettings: {container: {env: [{name: X, valueFrom: {secretKeyRef: {name: other, key: k}}}]}}", "spec.runtimeSettings.container.env[].valueFrom.secretKeyRef"},
		{"BackupConfiguration", "target: {args: [--databases, shop, --host=elsewhere]}", "spec.target.args: argument --host=elsewhere"},
		{"RestoreSession", "runtimeSettings: {container: {lifecycle: {postStart: {exec: {command: ['true']}}}}}", "spec.runtimeSettings.container.lifecycle"},
		{"RestoreSession", "runtimeSettings: {pod: {serviceAccountName: admin}}", "spec.runtimeSettings.pod.serviceAccountName"},
		{"RestoreSession", "target: {args: [-uroot, shop]}", "spec.target.args: argument -uroot"},
		{"RestoreSession", "task: {params: [{name: args, value: 'shop --port=3307'}]}", "spec.task.params[args]: argument --port=3307"},
		{"BackupBlueprint", "runtimeSettings: {container: {envFrom: [{secretRef: {name: other}}]}}", "spec.runtimeSettings.container.envFrom"},
		{"BackupBlueprint", "task: {params: [{name: args, value: '--all-databases --defaults-file=/x'}]}", "spec.task.params[args]: argument --defaults-file=/x"},
		{"BackupBlueprint", "backend: {s3: null, local: {mountPath: /repo, hostPath: {path: /}}}", "spec.backend.local.hostPath"},
		{"Repository", "backend: {local: {mountPath: /repo, hostPath: {path: /var/lib/kubelet}}}", "spec.backend.local.hostPath"},
		{"Repository", "backend: {local: {mountPath: /repo, gitRepo: {repository: 'https://example.com/x.git'}}}", "spec.backend.local.gitRepo"},
		{"Repository", "backend: {local: {mountPath: /repo, flexVolume: {driver: example.com/x}}}", "spec.backend.local.flexVolume"},
		{"AppBinding", "parameters: {apiVersion: stash.appscode.com/v1alpha1, kind: StashAddon, stash: {addon: {backupTask: {name: mysql-backup-8.0.21, params: [{name: args, value: '-hevil --all-databases'}]}}}}", "spec.parameters.stash.addon.backupTask.params[args]: argument -hevil"},
		{"AppBinding", "parameters: {apiVersion: stash.appscode.com/v1alpha1, kind: StashAddon, stash: {addon: {restoreTask: {name: mysql-restore-8.0.21, params: [{name: args, value: '--user=root'}]}}}}", "spec.parameters.stash.addon.restoreTask.params[args]: argument --user=root"},
	}
	for _, c := range refused {
		t.Run("refused/"+c.kind+"/"+c.field, func(t *testing.T) {
			obj := guardObject(t, c.kind, c.spec)
			err := createIn(guarded, obj)
			if err == nil {
				t.Fatalf("accepted %s with %s", c.kind, c.spec)
			}
			if !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "admission guard") {
				t.Errorf("refusal does not name %q: %v", c.field, err)
			}
			if c.kind == "BackupBlueprint" {
				return // cluster-scoped: a namespace label cannot relax it
			}
			if err := createIn(relaxed, obj); err != nil {
				t.Errorf("refused in a namespace labelled %s=%s: %v", guard.RelaxLabel, guard.RelaxValue, err)
			}
		})
	}

	allowed := []struct{ kind, spec string }{
		{"BackupConfiguration", `
runtimeSettings:
  pod:
    nodeSelector: {disk: ssd}
    automountServiceAccountToken: false
    securityContext: {runAsUser: 1000, runAsNonRoot: true, fsGroup: 2000, seccompProfile: {type: RuntimeDefault}}
    tolerations: [{key: dedicated, operator: Equal, value: backup, effect: NoSchedule}]
    priorityClassName: low
  container:
    resources: {requests: {cpu: 100m}}
    livenessProbe: {tcpSocket: {port: 3306}}
    readinessProbe: {httpGet: {port: 8080}}
    securityContext: {runAsUser: 1000, allowPrivilegeEscalation: false, privileged: false, capabilities: {drop: [ALL]}}
    nice: {adjustment: 5}
    ionice: {class: 2, classData: 4}
    env: [{name: TZ, value: UTC}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
target:
  args: [--databases, shop]
task:
  params: [{name: args, value: --databases shop}, {name: other, value: --host=not-a-database-argument}]`},
		{"Repository", "backend: {local: {mountPath: /repo, persistentVolumeClaim: {claimName: backups}}}"},
		{"Repository", "backend: {local: {mountPath: /repo, nfs: {server: nfs.example.com, path: /backups}}}"},
		{"AppBinding", "parameters: {apiVersion: stash.appscode.com/v1alpha1, kind: StashAddon, stash: {addon: {backupTask: {name: mysql-backup-8.0.21, params: [{name: args, value: --all-databases}]}}}}"},
	}
	for _, c := range allowed {
		t.Run("allowed/"+c.kind, func(t *testing.T) {
			if err := createIn(guarded, guardObject(t, c.kind, c.spec)); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}

	// The addon's own table of arguments: the guard refuses the same, naming the same argument.
	t.Run("connection arguments", func(t *testing.T) {
		f, err := os.Open(filepath.Join(envtestutil.RepoRoot(), "internal/mysql/testdata/connection-args.txt"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			fields := strings.SplitN(line, "\t", 3)
			verdict, named, raw := fields[0], fields[1], fields[2]
			n++
			obj := guardObject(t, "BackupConfiguration", "")
			if err := unstructured.SetNestedSlice(obj.Object, []any{map[string]any{"name": "args", "value": raw}}, "spec", "task", "params"); err != nil {
				t.Fatal(err)
			}
			err := createIn(guarded, obj)
			switch {
			case verdict == "allow" && err != nil:
				t.Errorf("%q refused: %v", raw, err)
			case verdict == "deny" && err == nil:
				t.Errorf("%q accepted, want it refused naming %s", raw, named)
			case verdict == "deny" && !strings.Contains(err.Error(), "spec.task.params[args]: argument "+named+" is not allowed"):
				t.Errorf("%q refused without naming %s: %v", raw, named, err)
			}
		}
		if n < 30 {
			t.Fatalf("only %d cases read", n)
		}
	})

	// hostNetwork, hostPID and hostIPC are not fields of Stash's runtimeSettings: the API server
	// drops them before the guard sees the object, and the Job never gets them.
	t.Run("host namespaces are not in the API", func(t *testing.T) {
		obj := guardObject(t, "BackupConfiguration", "runtimeSettings: {pod: {hostNetwork: true, hostPID: true, hostIPC: true}}")
		obj.SetNamespace(guarded)
		if err := k8sClient.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
		for _, f := range []string{"hostNetwork", "hostPID", "hostIPC"} {
			if _, found, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "runtimeSettings", "pod", f); found {
				t.Errorf("the API server kept spec.runtimeSettings.pod.%s", f)
			}
		}
	})

	// An object the guard would refuse, made while the namespace was relaxed: its metadata can
	// still change (so the operator can finalize it and users can delete it), its spec cannot
	// until it passes.
	t.Run("existing object", func(t *testing.T) {
		ctx := context.Background()
		ns := labelledNamespace(t, map[string]string{guardTestLabel: "true", guard.RelaxLabel: guard.RelaxValue})
		obj := guardObject(t, "BackupConfiguration", "runtimeSettings: {pod: {nodeName: node-1}}")
		obj.SetNamespace(ns)
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		nsObj := &corev1.Namespace{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
			t.Fatal(err)
		}
		delete(nsObj.Labels, guard.RelaxLabel)
		if err := k8sClient.Update(ctx, nsObj); err != nil {
			t.Fatal(err)
		}
		// The binding's namespace selector reads namespaces from an informer.
		spec := obj.DeepCopy()
		_ = unstructured.SetNestedField(spec.Object, "@hourly", "spec", "schedule")
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := k8sClient.Update(ctx, spec.DeepCopy(), client.DryRunAll)
			if err != nil {
				if !strings.Contains(err.Error(), "spec.runtimeSettings.pod.nodeName") {
					t.Fatalf("spec update refused for another reason: %v", err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a spec update of the refused object was still accepted 30s after the namespace lost its label")
			}
			time.Sleep(200 * time.Millisecond)
		}
		obj.SetFinalizers([]string{"example.com/keep"})
		if err := k8sClient.Update(ctx, obj); err != nil {
			t.Fatalf("metadata update refused: %v", err)
		}
		obj.SetFinalizers(nil)
		if err := k8sClient.Update(ctx, obj); err != nil {
			t.Fatalf("metadata update refused: %v", err)
		}
		if err := k8sClient.Delete(ctx, obj); err != nil {
			t.Fatalf("delete refused: %v", err)
		}
	})

	// Stash manifests of the repository's tests, samples and README pass the guard.
	t.Run("examples pass", func(t *testing.T) {
		root := envtestutil.RepoRoot()
		var objs []*unstructured.Unstructured
		for _, pattern := range []string{"test/integration/testdata/upstream/*.yaml", "test/e2e/testdata/*.yaml", "config/manifests/samples/*.yaml"} {
			files, err := filepath.Glob(filepath.Join(root, pattern))
			if err != nil || len(files) == 0 {
				t.Fatalf("no files for %s: %v", pattern, err)
			}
			for _, f := range files {
				objs = append(objs, readTemplate(t, f)...)
			}
		}
		objs = append(objs, readmeObjects(t, filepath.Join(root, "README.md"))...)
		// Upstream's guides keep a repository on the node's disk: refused by design (README,
		// "Admission guard"), and the only example that is.
		wantRefused := map[string]string{"Repository/local-repo": "spec.backend.local.hostPath"}
		checked := map[string]int{}
		for _, obj := range objs {
			if _, ok := guardBases[obj.GetKind()]; !ok {
				continue
			}
			checked[obj.GetKind()]++
			key := obj.GetKind() + "/" + obj.GetName()
			err := createIn(guarded, obj)
			switch field, refuse := wantRefused[key]; {
			case refuse && (err == nil || !strings.Contains(err.Error(), field)):
				t.Errorf("%s: want it refused naming %s, got %v", key, field, err)
			case refuse:
				delete(wantRefused, key)
			case err != nil:
				t.Errorf("%s refused: %v", key, err)
			}
		}
		if len(wantRefused) > 0 {
			t.Errorf("examples not found: %v", wantRefused)
		}
		for kind := range guardBases {
			if checked[kind] == 0 && kind != "BackupBlueprint" {
				t.Errorf("no example of %s checked", kind)
			}
		}
		t.Logf("examples checked: %v", checked)
	})
}

// e2ePlaceholders fill the @KEY@ placeholders of test/e2e/testdata with values of the right
// type; any other placeholder becomes a name.
var e2ePlaceholders = map[string]string{
	"@PAUSED@": "true", "@KEEP@": "3", "@WIPEOUT@": "false", "@ARGS@": "--databases shop",
	"@SCHEDULE@": "*/5 * * * *", "@URL@": "http://rest.example:8000/repo", "@STORAGE_TIMEOUT@": "30",
}

var placeholder = regexp.MustCompile(`@[A-Z_]+@`)

// readTemplate reads the objects of a manifest whose @KEY@ placeholders are filled.
func readTemplate(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	filled := placeholder.ReplaceAllStringFunc(string(data), func(k string) string {
		if v, ok := e2ePlaceholders[k]; ok {
			return v
		}
		return "example"
	})
	tmp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(filled), 0o600); err != nil {
		t.Fatal(err)
	}
	return readObjects(t, tmp)
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// readmeObjects reads the Kubernetes objects of the README's yaml code blocks.
func readmeObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, m := range yamlBlock.FindAllStringSubmatch(string(data), -1) {
		for _, doc := range strings.Split(m[1], "\n---\n") {
			obj := map[string]any{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj["kind"] == nil || obj["apiVersion"] == nil {
				continue // a fragment, not an object
			}
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
	return out
}

// TestAdmissionGuardAppliedByOperator: under OLM the operator applies the guard at start
// (--apply-admission-guard), with the rights its generated ClusterRole gives it, and again at
// every restart.
func TestAdmissionGuardAppliedByOperator(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	roles := readObjects(t, filepath.Join(envtestutil.RepoRoot(), "config/rbac/role.yaml"))
	role := &rbacv1.ClusterRole{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(roles[0].Object, role); err != nil {
		t.Fatal(err)
	}
	role.Name = "guard-test-operator"
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "operator", Namespace: ns}}
	rb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "guard-test-operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ns}},
	}
	for _, obj := range []client.Object{role, sa, rb} {
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
	}
	opCfg := rest.CopyConfig(cfg)
	opCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa.Name}
	op, err := client.New(opCfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	policy, binding, err := guard.Objects()
	if err != nil {
		t.Fatal(err)
	}
	plain := removeGuardAfter(t, policy, binding)
	// The first start creates, a restart updates.
	for i := 0; i < 2; i++ {
		if err := guard.Apply(ctx, op); err != nil {
			t.Fatalf("apply %d with the operator's rights: %v", i+1, err)
		}
	}
	awaitGuard(t, plain, true)
	got := &admissionv1.ValidatingAdmissionPolicy{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: "hoard-admission-guard"}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Validations) != len(policy.Spec.Validations) || len(got.Spec.Validations) < 20 {
		t.Errorf("applied policy has %d validations, the shipped one %d", len(got.Spec.Validations), len(policy.Spec.Validations))
	}
	gotBinding := &admissionv1.ValidatingAdmissionPolicyBinding{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: "hoard-admission-guard"}, gotBinding); err != nil {
		t.Fatal(err)
	}
	if gotBinding.Spec.PolicyName != got.Name {
		t.Errorf("binding names policy %q", gotBinding.Spec.PolicyName)
	}
	// The operator cannot touch other policies: its rights name the guard's objects only.
	other := policy.DeepCopy()
	other.Name = "someone-elses-policy"
	if err := k8sClient.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), other) })
	other.Spec.Validations = other.Spec.Validations[:1]
	if err := op.Patch(ctx, other, client.Apply, client.ForceOwnership, client.FieldOwner(guard.FieldOwner)); !apierrors.IsForbidden(err) {
		t.Errorf("the operator changed another policy: %v", err)
	}
}

// hasCondition reports whether conds holds a condition of reason whose message names field.
func hasCondition(conds []metav1.Condition, reason, field string) bool {
	for _, c := range conds {
		if c.Reason == reason && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, field) {
			return true
		}
	}
	return false
}

// TestOperatorRefusesUnsafeBackends: where no admission policy runs (here none is installed),
// the operator itself refuses to mount a hostPath (or gitRepo, flexVolume) local backend: the
// session fails naming the field, the wipe is refused naming it, and no Job is created.
func TestOperatorRefusesUnsafeBackends(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	nodeDisk := func(name string, wipeOut bool) *stashv1alpha1.Repository {
		return &stashv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: stashv1alpha1.RepositorySpec{
			WipeOut: wipeOut,
			Backend: stashv1alpha1.Backend{StorageSecretName: "gcs-secret", Local: &stashv1alpha1.LocalSpec{
				MountPath: "/repo", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelet"}}}},
		}}
	}
	mustCreate(t, nodeDisk("node-disk", false))

	t.Run("backup", func(t *testing.T) {
		f.backupConfiguration(t, "to-node-disk", func(bc *v1beta1.BackupConfiguration) { bc.Spec.Repository.Name = "node-disk" })
		bs := waitPhase(t, f.backupSession(t, "to-node-disk", "1"), bsPhase, "Failed")
		if !hasCondition(bs.Status.Conditions, location.ReasonUnsafeBackendVolume, "spec.backend.local.hostPath") {
			t.Errorf("conditions %+v do not name spec.backend.local.hostPath", bs.Status.Conditions)
		}
		assertNoJob(t, f.ns, "stash-backup-to-node-disk-1")
	})

	t.Run("restore", func(t *testing.T) {
		rs := f.restoreSession(t, "from-node-disk", func(rs *v1beta1.RestoreSession) { rs.Spec.Repository.Name = "node-disk" })
		rs = waitPhase(t, rs, rsPhase, "Failed")
		if !hasCondition(rs.Status.Conditions, location.ReasonUnsafeBackendVolume, "spec.backend.local.hostPath") {
			t.Errorf("conditions %+v do not name spec.backend.local.hostPath", rs.Status.Conditions)
		}
		assertNoJob(t, f.ns, "stash-restore-from-node-disk")
	})

	t.Run("wipe", func(t *testing.T) {
		repo := nodeDisk("wiped-node-disk", true)
		mustCreate(t, repo)
		pollUntil(t, bcTimeout, "finalizer", func() error {
			got, err := getRepo(ctx, f.ns, repo.Name)
			if err != nil {
				return err
			}
			if !controllerutil.ContainsFinalizer(got, repository.Finalizer) {
				return fmt.Errorf("finalizers %v", got.Finalizers)
			}
			return nil
		})
		if err := k8sClient.Delete(ctx, repo); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, bcTimeout, "wipe refused", func() error {
			got, err := getRepo(ctx, f.ns, repo.Name)
			if err != nil {
				return err
			}
			if !hasCondition(got.Status.Conditions, repository.ReasonWipeOutFailed, "spec.backend.local.hostPath") {
				return fmt.Errorf("conditions %+v", got.Status.Conditions)
			}
			return nil
		})
		assertNoJob(t, f.ns, repository.WipeJobName(repo.Name))
		// Keeping the data lets it go.
		got, err := getRepo(ctx, f.ns, repo.Name)
		if err != nil {
			t.Fatal(err)
		}
		base := got.DeepCopy()
		got.Spec.WipeOut = false
		if err := k8sClient.Patch(ctx, got, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, bcTimeout, "Repository deleted", func() error {
			if _, err := getRepo(ctx, f.ns, repo.Name); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there: %w", err)
			}
			return nil
		})
	})

	// The Job the operator creates from the shipped Tasks: update-status mounts nothing secret.
	t.Run("update-status mounts nothing secret", func(t *testing.T) {
		f.backupConfiguration(t, "plain", func(bc *v1beta1.BackupConfiguration) {
			bc.Spec.RuntimeSettings.Container = &v1beta1.ContainerRuntimeSettings{
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gcs-secret"}}}},
			}
		})
		f.backupSession(t, "plain", "1")
		job := waitJob(t, f.ns, "stash-backup-plain-1")
		pod := job.Spec.Template.Spec
		secretVolumes := map[string]bool{}
		for _, v := range pod.Volumes {
			if v.Secret != nil {
				secretVolumes[v.Name] = true
			}
		}
		if len(secretVolumes) < 2 {
			t.Fatalf("the Job has secret volumes %v, want the storage Secret's and the target's", secretVolumes)
		}
		for _, c := range pod.Containers {
			if !strings.HasPrefix(c.Name, "update-status") {
				t.Fatalf("last container %s, want update-status", c.Name)
			}
			for _, m := range c.VolumeMounts {
				if secretVolumes[m.Name] {
					t.Errorf("update-status mounts Secret volume %s at %s", m.Name, m.MountPath)
				}
			}
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil {
					t.Errorf("update-status reads Secret %s", e.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					t.Errorf("update-status reads %s from a Secret", e.Name)
				}
			}
		}
		mounted := 0
		for _, m := range pod.InitContainers[0].VolumeMounts {
			if secretVolumes[m.Name] {
				mounted++
			}
		}
		if mounted != len(secretVolumes) {
			t.Errorf("the database step mounts %d of the %d Secret volumes", mounted, len(secretVolumes))
		}
	})
}

func assertNoJob(t *testing.T, ns, name string) {
	t.Helper()
	err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &batchv1.Job{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Job %s exists or cannot be read: %v", name, err)
	}
}
