package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hoardv1alpha1 "github.com/hoard-operator/hoard/api/hoard/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/mysqladdon"
)

// TestDeleteMySQLAddonAndWait is what the install chart's pre-delete hook runs: the addon and
// its Tasks are gone when it returns; without an operator it gives up with a clear error.
func TestDeleteMySQLAddonAndWait(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "hoard-addon-del-"}}
	if err := k8sClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	startAddonManager(t, ns.Name)

	addon := &hoardv1alpha1.MySQLAddon{ObjectMeta: metav1.ObjectMeta{Name: "mysql-del"}}
	addon.Spec.Versions = []string{"8.0.21"}
	if err := k8sClient.Create(ctx, addon); err != nil {
		t.Fatal(err)
	}
	addonEventually(t, 60*time.Second, "the addon's Tasks", func() string {
		if n := len(liveAddonObjects(ctx, t, addon.Name)); n == 0 {
			return "no Tasks or Functions yet"
		}
		return ""
	})

	if err := mysqladdon.DeleteAndWait(ctx, k8sClient, addon.Name, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(addon), &hoardv1alpha1.MySQLAddon{}); !apierrors.IsNotFound(err) {
		t.Fatalf("MySQLAddon still there: %v", err)
	}
	if live := liveAddonObjects(ctx, t, addon.Name); len(live) != 0 {
		t.Errorf("Tasks/Functions left behind: %d", len(live))
	}
	if err := mysqladdon.DeleteAndWait(ctx, k8sClient, addon.Name, time.Second); err != nil {
		t.Errorf("deleting a missing addon must succeed: %v", err)
	}

	// No operator to release the finalizer: the wait ends with a clear error.
	stuck := &hoardv1alpha1.MySQLAddon{ObjectMeta: metav1.ObjectMeta{Name: "mysql-stuck", Finalizers: []string{"example.org/held"}}}
	if err := k8sClient.Create(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s := &hoardv1alpha1.MySQLAddon{}
		if k8sClient.Get(context.Background(), client.ObjectKeyFromObject(stuck), s) == nil {
			s.Finalizers = nil
			_ = k8sClient.Update(context.Background(), s)
		}
	})
	err := mysqladdon.DeleteAndWait(ctx, k8sClient, stuck.Name, 2*time.Second)
	if want := fmt.Sprintf("MySQLAddon %s is still there after 2s (is the operator running?", stuck.Name); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
}
