package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/scheme"
	"github.com/hoard-operator/hoard/internal/trigger"
)

// saClient is a client that acts as the ServiceAccount ns/name, so the API server's RBAC
// decides what it may do.
func saClient(t *testing.T, ns, name string) client.Client {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + name}
	cl, err := client.New(c, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestTriggerCreatesSession(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	bc := newBackupConfiguration(ns)
	mustCreate(t, bc)
	now := func() time.Time { return time.Unix(1700000000, 0) }

	s, err := trigger.Trigger(ctx, k8sClient, ns, "nightly", now)
	if err != nil {
		t.Fatalf("trigger: %v", err)
	}
	got := &stashv1beta1.BackupSession{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(s), got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "nightly-1700000000" {
		t.Errorf("name = %q", got.Name)
	}
	if got.Labels[stashv1beta1.LabelInvokerType] != "BackupConfiguration" || got.Labels[stashv1beta1.LabelInvokerName] != "nightly" {
		t.Errorf("labels = %v", got.Labels)
	}
	if inv := got.Spec.Invoker; inv.APIGroup != "stash.appscode.com" || inv.Kind != "BackupConfiguration" || inv.Name != "nightly" {
		t.Errorf("invoker = %+v", inv)
	}
	if refs := got.OwnerReferences; len(refs) != 1 || refs[0].UID != bc.UID || refs[0].Kind != "BackupConfiguration" {
		t.Errorf("ownerReferences = %+v", refs)
	}

	// A second trigger within the same second gets its own session.
	s2, err := trigger.Trigger(ctx, k8sClient, ns, "nightly", now)
	if err != nil {
		t.Fatalf("second trigger in the same second: %v", err)
	}
	if s2.Name != "nightly-1700000000-1" {
		t.Errorf("second session name = %q", s2.Name)
	}

	// Paused: refused, nothing created.
	base := bc.DeepCopy()
	bc.Spec.Paused = true
	if err := k8sClient.Patch(ctx, bc, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	if _, err := trigger.Trigger(ctx, k8sClient, ns, "nightly", func() time.Time { return time.Unix(1700000100, 0) }); !errors.Is(err, trigger.ErrPaused) {
		t.Errorf("trigger of a paused configuration: %v, want ErrPaused", err)
	}
	var list stashv1beta1.BackupSessionList
	if err := k8sClient.List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) != 2 {
		t.Errorf("sessions = %d (%v), want 2", len(list.Items), err)
	}

	if _, err := trigger.Trigger(ctx, k8sClient, ns, "missing", now); err == nil {
		t.Errorf("trigger of a missing configuration succeeded")
	}
}

// The CronJob's ServiceAccount must be able to do what `hoard trigger` does, with the Role
// the controller created and nothing else.
func TestTriggerAsServiceAccount(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns, _ := readyBackupConfiguration(t)
	getCronJob(t, ns)
	as := saClient(t, ns, "stash-trigger-nightly")
	var s *stashv1beta1.BackupSession
	pollUntil(t, bcTimeout, "trigger as the ServiceAccount", func() error {
		var err error
		s, err = trigger.Trigger(ctx, as, ns, "nightly", time.Now)
		return err
	})
	if s.Spec.Invoker.Name != "nightly" {
		t.Errorf("session invoker %+v", s.Spec.Invoker)
	}
}
