//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// A confined user: a ServiceAccount with rights only in its own namespace, over the Stash
// kinds, AppBindings and Secrets (what a tenant of a shared cluster typically gets). The test
// acts as it through impersonation (kubectl --as, client-go's impersonation headers), so every
// request is authorised as that user would be. Reusable by any suite that asks "what can a
// tenant make the operator do?".

// confinedUser is the ServiceAccount "tenant" of a case namespace.
type confinedUser struct {
	k *kns
	// name is the impersonated user, system:serviceaccount:<ns>:tenant.
	name string
}

// confinedRole is the tenant's Role: the Stash kinds, AppBindings and Secrets of its namespace.
const confinedRole = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: tenant
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: tenant
rules:
  - apiGroups: [stash.appscode.com]
    resources: [backupconfigurations, backupsessions, restoresessions, repositories]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [stash.appscode.com]
    resources: [backupconfigurations/status, backupsessions/status, restoresessions/status, repositories/status]
    verbs: [get]
  - apiGroups: [appcatalog.appscode.com]
    resources: [appbindings]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [""]
    resources: [events]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: tenant
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant}
subjects:
  - {kind: ServiceAccount, name: tenant}
`

// newConfinedUser creates the tenant's ServiceAccount, Role and RoleBinding in k's namespace.
func newConfinedUser(t *testing.T, k *kns) *confinedUser {
	t.Helper()
	k.apply(confinedRole)
	return &confinedUser{k: k, name: "system:serviceaccount:" + k.ns + ":tenant"}
}

// try runs kubectl as the user; args name the namespace (-n) where it matters.
func (u *confinedUser) try(args ...string) (string, error) {
	return kubectl("", append([]string{"--as=" + u.name}, args...)...)
}

// run is try that fails the test on error.
func (u *confinedUser) run(args ...string) string {
	u.k.t.Helper()
	out, err := u.try(args...)
	if err != nil {
		u.k.t.Fatal(err)
	}
	return out
}

// apply creates or updates objects as the user; the error says what was refused.
func (u *confinedUser) apply(yaml string) error {
	_, err := kubectl(yaml, "--as="+u.name, "-n", u.k.ns, "apply", "-f", "-")
	return err
}

// can answers `kubectl auth can-i verb resource -n namespace` for the user.
func (u *confinedUser) can(verb, resource, namespace string) bool {
	out, _ := kubectl("", "auth", "can-i", verb, resource, "-n", namespace, "--as="+u.name)
	return strings.TrimSpace(out) == "yes"
}

// read tries to get one Secret as the user: "readable", "forbidden" or "not found".
func (u *confinedUser) read(namespace, secret string) string {
	_, err := u.try("-n", namespace, "get", "secret", secret, "-o", "name")
	switch {
	case err == nil:
		return "readable"
	case strings.Contains(err.Error(), "Forbidden") || strings.Contains(err.Error(), "forbidden"):
		return "forbidden"
	case strings.Contains(err.Error(), "NotFound") || strings.Contains(err.Error(), "not found"):
		return "not found"
	}
	return fmt.Sprintf("error: %v", err)
}
