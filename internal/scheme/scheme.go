// Package scheme builds the runtime.Scheme that knows every kind Hoard reads or writes.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	hoardv1alpha1 "github.com/hoard-operator/hoard/api/hoard/v1alpha1"
	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	repositoriesv1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// New returns a scheme with the Kubernetes built-in kinds and Hoard's API.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(stashv1alpha1.AddToScheme(s))
	utilruntime.Must(stashv1beta1.AddToScheme(s))
	utilruntime.Must(appcatalogv1alpha1.AddToScheme(s))
	utilruntime.Must(hoardv1alpha1.AddToScheme(s))
	utilruntime.Must(opsv1alpha1.AddToScheme(s))
	utilruntime.Must(repositoriesv1alpha1.AddToScheme(s))
	return s
}
