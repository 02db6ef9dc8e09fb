package manager

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// cacheOptions says what the manager's informers watch. With watchNamespaces set, namespaced
// kinds are watched only there (cluster-scoped kinds such as Tasks and Functions are watched
// whole, as they must be); empty means every namespace. Secrets are watched only in the
// release namespace: helm-operator-plugins watches the MySQLAddon release records it keeps
// there. Every other Secret is read directly (see clientOptions), so the operator needs no
// list or watch on Secrets anywhere else and never holds the cluster's Secrets in memory.
// See docs/design/0014-least-privilege.md.
func cacheOptions(sync *time.Duration, watchNamespaces []string, releaseNamespace string) cache.Options {
	opts := cache.Options{
		SyncPeriod: sync,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{releaseNamespace: {}}},
		},
	}
	if len(watchNamespaces) > 0 {
		opts.DefaultNamespaces = make(map[string]cache.Config, len(watchNamespaces))
		for _, ns := range watchNamespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// clientOptions makes the manager's client read Secrets (also as metadata) from the API
// server, never from the cache: a get of one Secret needs only the get verb.
func clientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// ParseNamespaces turns a comma-separated list (the form of OLM's olm.targetNamespaces
// annotation and of WATCH_NAMESPACE) into namespaces; empty entries are dropped, so "" means
// every namespace.
func ParseNamespaces(list string) []string {
	var out []string
	seen := map[string]bool{}
	for _, ns := range strings.Split(list, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" || seen[ns] {
			continue
		}
		seen[ns] = true
		out = append(out, ns)
	}
	return out
}
