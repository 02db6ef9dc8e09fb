package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/manager"
)

// TestWatchNamespaces: an operator restricted to one namespace (the chart's watchNamespaces,
// OLM's OwnNamespace/SingleNamespace/MultiNamespace) acts on a configuration there, reading the
// cluster-scoped Task and the storage Secret as it must, and ignores the same configuration
// in another namespace. Its cache holds no Secret of either.
func TestWatchNamespaces(t *testing.T) {
	ctx := context.Background()
	watched, ignored := newNamespace(t), newNamespace(t)
	mgr, _ := startManagerWith(t, manager.Options{WatchNamespaces: []string{watched}})

	// The ignored one first: had it been watched, it would have been reconciled first.
	for _, ns := range []string{ignored, watched} {
		task := "mysql-backup-" + ns
		mustCreate(t, bcRepository(ns), bcSecret(ns), bcDBSecret(ns), bcAppBinding(ns, task), bcFunction(t, task), bcTask(task), newBackupConfiguration(ns))
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), bcTask(task)) })
	}
	waitBC(t, watched, "nightly", "Ready in the watched namespace", wantPhase(stashv1beta1.BackupInvokerReady))
	getCronJob(t, watched)

	// Long enough for a watched configuration to be reconciled many times over.
	time.Sleep(3 * time.Second)
	bc := &stashv1beta1.BackupConfiguration{}
	if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ignored, Name: "nightly"}, bc); err != nil {
		t.Fatal(err)
	}
	if bc.Status.ObservedGeneration != 0 || len(bc.Status.Conditions) != 0 {
		t.Errorf("the configuration in the namespace not watched was reconciled: %+v", bc.Status)
	}
	if err := mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: ignored, Name: "nightly"}, &stashv1beta1.BackupConfiguration{}); err == nil {
		t.Error("the cache holds a configuration of a namespace not watched")
	}
	// Secrets are read directly: the cache has none of the watched namespace either.
	if err := mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: watched, Name: "repo-secret"}, &corev1.Secret{}); err == nil {
		t.Error("the cache holds the storage Secret of a watched namespace: Secrets must be read directly, never cached")
	}
}
