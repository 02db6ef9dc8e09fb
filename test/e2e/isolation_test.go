//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Issue 11 on the real cluster: a tenant of namespace iso-a (confinedUser) cannot make the
// operator hand it another namespace's Secrets, and uses a Repository of iso-b only when that
// Repository's usagePolicy allows iso-a. The table of who can read what is logged and held.
func TestIsolation(t *testing.T) {
	requireHoard(t)
	a := newCaseNamespace(t, "iso-a")
	b := newCaseNamespace(t, "iso-b")
	// b's storage (REST server, rest-secret) and its shared Repository; a's database.
	b.setup()
	b.repository("shared", "shared", false)
	a.apply(manifest(t, "mariadb.yaml", "NAME", "db"))
	a.run("rollout", "status", "deploy/db", "--timeout=300s")
	a.smallData("db", "shop")
	want := a.checksums("db", "shop.small")
	user := newConfinedUser(t, a)
	bUser := newConfinedUser(t, b)

	// (i) addKeysFrom naming kube-system: refused, naming the field; nothing of kube-system in a.
	t.Run("addKeysFrom kube-system", func(t *testing.T) {
		token := "iso-e2e-" + fmt.Sprint(time.Now().UnixNano())
		mustKubectl(t, "", "-n", "kube-system", "create", "secret", "generic", "iso-e2e-token", "--from-literal=token="+token)
		t.Cleanup(func() { _, _ = kubectl("", "-n", "kube-system", "delete", "secret", "iso-e2e-token") })
		if user.can("get", "secrets", "kube-system") {
			t.Fatalf("the tenant may read kube-system's Secrets: the fixture is wrong")
		}
		// a's own Repository (own path on b's REST server) and storage Secret, so that the
		// target is the first check to fail.
		if err := user.apply(fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: own-storage}
stringData: {RESTIC_PASSWORD: own-restic-pw}
---
apiVersion: stash.appscode.com/v1alpha1
kind: Repository
metadata: {name: own}
spec:
  backend:
    rest: {url: %q}
    storageSecretName: own-storage
---
apiVersion: appcatalog.appscode.com/v1alpha1
kind: AppBinding
metadata: {name: borrow}
spec:
  type: mysql
  version: "10.11"
  clientConfig:
    service: {name: db, scheme: mysql, port: 3306}
  secret: {name: db-auth}
  secretTransforms:
    - addKeysFrom: {secretRef: {namespace: kube-system, name: iso-e2e-token}}
    - renameKey: {from: token, to: password}
`, b.restURL("own-"+a.ns))); err != nil {
			t.Fatal(err)
		}
		if err := user.apply(manifest(t, "fault-restoresession.yaml", "NAME", "borrow", "REPO", "own", "TARGET", "borrow")); err != nil {
			t.Fatal(err)
		}
		rs := waitRestore(a, "borrow")
		c := findCondition(rs.Status.Conditions, "TargetSecretFound")
		t.Logf("  RestoreSession borrow: %s; TargetSecretFound=%s (%s): %s", rs.Status.Phase, c.Status, c.Reason, c.Message)
		if rs.Status.Phase != "Failed" || c.Reason != "InvalidCredentials" ||
			!strings.Contains(c.Message, `secretTransforms[0].addKeysFrom.secretRef.namespace "kube-system": a Secret of another namespace is not read`) {
			t.Errorf("want Failed with TargetSecretFound=False InvalidCredentials naming the field; got %s %+v", rs.Status.Phase, c)
		}
		noValueIn(t, a, token)
		if out, _ := a.try("get", "jobs", "-o", "name"); strings.Contains(out, "borrow") {
			t.Errorf("a Job was created for the refused restore: %s", out)
		}
	})

	// (ii) b's Repository without a usagePolicy: refused, without telling whether it exists.
	ref := func(name string) string {
		return manifest(t, "fault-backupconfiguration.yaml", "NAME", name, "REPO", "shared", "TARGET", "db", "ARGS", "--databases shop",
			"SCHEDULE", neverSchedule, "KEEP", "3", "PAUSED", "false", "STORAGE_TIMEOUT", "300")
	}
	cross := strings.Replace(ref("cross"), "    name: shared\n", "    name: shared\n    namespace: "+b.ns+"\n", 1)
	missing := strings.Replace(ref("missing"), "    name: shared\n", "    name: nothing-here\n    namespace: "+b.ns+"\n", 1)
	t.Run("Repository of b not allowed", func(t *testing.T) {
		if err := user.apply(cross + "---\n" + missing); err != nil {
			t.Fatal(err)
		}
		notAllowed := waitBCCondition(a, "cross", "RepositoryFound", "RepositoryNotFound")
		gone := waitBCCondition(a, "missing", "RepositoryFound", "RepositoryNotFound")
		t.Logf("  not allowed: %s\n  missing:     %s", notAllowed, gone)
		// The tenant sees the reason on its own object.
		if seen := user.run("-n", a.ns, "get", "backupconfiguration", "cross", "-o", `jsonpath={.status.conditions[?(@.type=="RepositoryFound")].message}`); seen != notAllowed {
			t.Errorf("the tenant reads %q", seen)
		}
		if strings.Replace(gone, "nothing-here", "shared", 1) != notAllowed {
			t.Errorf("a missing and a refused Repository read differently:\n%s\n%s", notAllowed, gone)
		}
		if !strings.HasPrefix(notAllowed, "spec.repository.namespace: ") {
			t.Errorf("the refusal does not name the field: %s", notAllowed)
		}
		// A session started anyway fails with the same words.
		name := userTrigger(t, user, a, "cross", "refused")
		bs := a.waitSession(name, 2*time.Minute)
		if c := bs.condition("RepositoryFound"); bs.Status.Phase != "Failed" || c.Message != notAllowed || c.Reason != "RepositoryNotFound" {
			t.Errorf("session %s: %s, RepositoryFound %+v", name, bs.Status.Phase, c)
		}
		noValueIn(t, a, "not-so-secret-restic-pw")
	})

	// (iii) usagePolicy from: Selector allowing a: a backup and a restore through b's Repository.
	t.Run("Repository of b allowed by selector", func(t *testing.T) {
		mustKubectl(t, "", "label", "namespace", a.ns, "backup-tenant=iso-a", "--overwrite")
		b.run("patch", "repository", "shared", "--type=merge", "-p",
			`{"spec":{"usagePolicy":{"allowedNamespaces":{"from":"Selector","selector":{"matchLabels":{"backup-tenant":"iso-a"}}}}}}`)
		eventually(t, "BackupConfiguration cross Ready", time.Minute, 2*time.Second, func() (bool, string) {
			phase := jsonpathIn(a, "backupconfiguration/cross", "{.status.phase}")
			return phase == "Ready", "phase " + phase
		})
		name := userTrigger(t, user, a, "cross", "allowed")
		job := "stash-backup-" + name
		copyName := job + "-storage"
		// Who reads what while the Job runs: the tenant of a reads the session's copy of b's
		// storage Secret (the grant the usagePolicy makes), never b's Secrets nor a's copy once
		// the Job ended; b's tenant never reads a's database credentials.
		during := map[string]string{}
		eventually(t, "the backup's storage copy while it runs", 3*time.Minute, time.Second, func() (bool, string) {
			bs := a.session(name)
			if finished(bs.Status.Phase) {
				t.Fatalf("session %s ended (%s) before the copy was seen: %s", name, bs.Status.Phase, bs.failure())
			}
			during["a reads "+a.ns+"/"+copyName] = user.read(a.ns, copyName)
			return during["a reads "+a.ns+"/"+copyName] == "readable", fmt.Sprint(during)
		})
		during["a reads "+b.ns+"/rest-secret"] = user.read(b.ns, "rest-secret")
		during["b reads "+a.ns+"/db-auth"] = bUser.read(a.ns, "db-auth")
		during["b reads "+a.ns+"/"+job+"-target"] = bUser.read(a.ns, job+"-target")
		bs := a.waitSession(name, 4*time.Minute)
		snap := a.mustSucceed(bs)
		// The copies go right after the session's status is written.
		eventually(t, "the session's Secrets deleted", time.Minute, time.Second, func() (bool, string) {
			c, tg := user.read(a.ns, copyName), user.read(a.ns, job+"-target")
			return c == "not found" && tg == "not found", "storage copy " + c + ", target " + tg
		})
		after := map[string]string{
			"a reads " + a.ns + "/" + copyName:        user.read(a.ns, copyName),
			"a reads " + a.ns + "/" + job + "-target": user.read(a.ns, job+"-target"),
			"a reads " + b.ns + "/rest-secret":        user.read(b.ns, "rest-secret"),
			"b reads " + a.ns + "/db-auth":            bUser.read(a.ns, "db-auth"),
		}
		canI := map[string]bool{
			"a get secrets -n " + b.ns: user.can("get", "secrets", b.ns),
			"b get secrets -n " + a.ns: bUser.can("get", "secrets", a.ns),
			"a get secrets -n " + a.ns: user.can("get", "secrets", a.ns),
			"a create pods -n " + a.ns: user.can("create", "pods", a.ns),
		}
		t.Logf("  snapshot %s in %s/shared\n  can-i: %v\n  during the session: %v\n  after it: %v", snap, b.ns, canI, during, after)
		for what, got := range map[string]string{
			"a reads " + b.ns + "/rest-secret":        during["a reads "+b.ns+"/rest-secret"],
			"b reads " + a.ns + "/db-auth":            during["b reads "+a.ns+"/db-auth"],
			"b reads the target copy":                 during["b reads "+a.ns+"/"+job+"-target"],
			"after: a reads " + b.ns + "/rest-secret": after["a reads "+b.ns+"/rest-secret"],
			"after: b reads " + a.ns + "/db-auth":     after["b reads "+a.ns+"/db-auth"],
		} {
			if got != "forbidden" {
				t.Errorf("%s: %s, want forbidden", what, got)
			}
		}
		for _, what := range []string{"a reads " + a.ns + "/" + copyName, "a reads " + a.ns + "/" + job + "-target"} {
			if after[what] != "not found" {
				t.Errorf("after the session, %s: %s, want not found (deleted with the Job)", what, after[what])
			}
		}
		if canI["a get secrets -n "+b.ns] || canI["b get secrets -n "+a.ns] || canI["a create pods -n "+a.ns] || !canI["a get secrets -n "+a.ns] {
			t.Errorf("the fixture's rights are not what the test assumes: %v", canI)
		}
		noValueIn(t, b, "Hoard-demo-pw1")
		eventually(t, "Repository "+b.ns+"/shared status", time.Minute, 2*time.Second, func() (bool, string) {
			st := jsonpathIn(b, "repository/shared", "{.status.snapshotCount} {.status.lastBackupTime}")
			return strings.HasPrefix(st, "1 "), "status " + st
		})

		// Restore: drop the table, restore from b's Repository, compare.
		a.sql("db", "DROP DATABASE shop;")
		rs := manifest(t, "fault-restoresession.yaml", "NAME", "cross-restore", "REPO", "shared", "TARGET", "db")
		rs = strings.Replace(rs, "    name: shared\n", "    name: shared\n    namespace: "+b.ns+"\n", 1)
		if err := user.apply(rs); err != nil {
			t.Fatal(err)
		}
		got := waitRestore(a, "cross-restore")
		if got.Status.Phase != "Succeeded" {
			t.Fatalf("restore: %s %+v %s", got.Status.Phase, got.Status.Stats, formatConditions(got.Status.Conditions))
		}
		if sum := a.checksums("db", "shop.small"); sum != want {
			t.Errorf("restored %s, want %s", sum, want)
		}
		eventually(t, "the restore's storage copy deleted", time.Minute, 2*time.Second, func() (bool, string) {
			r := user.read(a.ns, "stash-restore-cross-restore-storage")
			return r == "not found", r
		})
	})
}

// waitRestore waits for a RestoreSession to end.
func waitRestore(k *kns, name string) restoreSession {
	k.t.Helper()
	var rs restoreSession
	eventually(k.t, "RestoreSession "+name+" to finish", 4*time.Minute, 2*time.Second, func() (bool, string) {
		k.get("restoresession/"+name, &rs)
		return finished(rs.Status.Phase), "phase " + rs.Status.Phase + " " + formatConditions(rs.Status.Conditions)
	})
	return rs
}

// waitBCCondition waits for a BackupConfiguration's condition to be False with reason, and
// returns its message.
func waitBCCondition(k *kns, name, typ, reason string) string {
	k.t.Helper()
	var bc struct {
		Status struct {
			Phase      string      `json:"phase"`
			Conditions []condition `json:"conditions"`
		} `json:"status"`
	}
	var c condition
	eventually(k.t, "BackupConfiguration "+name+" "+typ+"="+reason, time.Minute, 2*time.Second, func() (bool, string) {
		k.get("backupconfiguration/"+name, &bc)
		c = findCondition(bc.Status.Conditions, typ)
		return c.Status == "False" && c.Reason == reason && bc.Status.Phase == "NotReady", fmt.Sprintf("phase %s, %+v", bc.Status.Phase, c)
	})
	return c.Message
}

// userTrigger creates BackupSession <bc>-<suffix> as the confined user, the way `hoard
// trigger` does (which names it after the second; two sessions within one second would be one).
func userTrigger(t *testing.T, u *confinedUser, k *kns, bc, suffix string) string {
	t.Helper()
	name := bc + "-" + suffix
	if err := u.apply(k.sessionYAML(bc, name)); err != nil {
		t.Fatal(err)
	}
	return name
}

// noValueIn fails when a Secret of k's namespace holds value (decoded).
func noValueIn(t *testing.T, k *kns, value string) {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata objectMeta        `json:"metadata"`
			Data     map[string]string `json:"data"`
		} `json:"items"`
	}
	k.get("secrets", &list)
	for _, s := range list.Items {
		for key, v := range s.Data {
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil && string(raw) == value {
				t.Errorf("Secret %s/%s key %s holds a value of another namespace", k.ns, s.Metadata.Name, key)
			}
		}
	}
}
