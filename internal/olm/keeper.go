package olm

import (
	"context"
	"fmt"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hoard-operator/hoard/internal/hookjob"
)

// HookRoleKeeper keeps ClusterRole hoard-hook-exec a dependent of the CSV's ClusterRoles for as
// long as the operator runs. Adopting it once at start is not enough: OLM creates a bundle's
// ClusterRole as a step of the InstallPlan, which may come after the operator's Deployment has
// started, and an upgrade rewrites the role. It is a manager Runnable that checks the role
// every Interval (from one second, doubling up to Interval while the role is missing or was
// just adopted), and adds the missing references only.
type HookRoleKeeper struct {
	// Reader reads from the API server (the manager's APIReader; nothing caches ClusterRoles).
	Reader client.Reader
	// Writer patches the role's ownerReferences.
	Writer client.Client
	// CSV and Namespace name the ClusterServiceVersion that installed the operator.
	CSV, Namespace string
	// Interval is the longest wait between two checks.
	Interval time.Duration
}

// Start checks until ctx ends; a failed check is logged and tried again.
func (k *HookRoleKeeper) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("olm").WithValues("clusterRole", hookjob.ExecClusterRole, "csv", k.CSV)
	wait, waited := time.Second, false
	for {
		state, err := k.keep(ctx)
		switch {
		case err != nil:
			logger.Error(err, "could not make the ClusterRole a dependent of the CSV's; trying again", "in", wait)
		case state == roleMissing && !waited:
			logger.Info("the ClusterRole is not there yet (OLM creates it with the InstallPlan); exec hooks fail until it is")
			waited = true
		case state == roleAdopted:
			logger.Info("the ClusterRole is now a dependent of the CSV's ClusterRoles, which OLM deletes with it")
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, k.Interval)
	}
}

type roleState int

const (
	roleMissing roleState = iota
	roleOwned
	roleAdopted
)

// keep adds to the role the references to the CSV's ClusterRoles it does not have yet.
func (k *HookRoleKeeper) keep(ctx context.Context) (roleState, error) {
	// A list by name: the operator lists ClusterRoles anyway (Owners) and holds no get on them.
	var roles rbacv1.ClusterRoleList
	if err := k.Reader.List(ctx, &roles, client.MatchingFields{"metadata.name": hookjob.ExecClusterRole}); err != nil {
		return roleMissing, fmt.Errorf("failed to look for ClusterRole %s: %w", hookjob.ExecClusterRole, err)
	}
	if len(roles.Items) == 0 {
		return roleMissing, nil
	}
	refs, err := Owners(ctx, k.Reader, k.CSV, k.Namespace, hookjob.ExecClusterRole)
	if err != nil {
		return roleMissing, err
	}
	role := &roles.Items[0]
	if hasAll(role.OwnerReferences, refs) {
		return roleOwned, nil
	}
	if err := Adopt(ctx, k.Writer, role, refs); err != nil {
		return roleMissing, err
	}
	return roleAdopted, nil
}

// hasAll tells whether every one of want is among have, by UID.
func hasAll(have, want []metav1.OwnerReference) bool {
	uids := make(map[string]bool, len(have))
	for _, r := range have {
		uids[string(r.UID)] = true
	}
	for _, r := range want {
		if !uids[string(r.UID)] {
			return false
		}
	}
	return true
}
