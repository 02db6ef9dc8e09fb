package dependency

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// RepositoryIndex is the field index of BackupConfigurations by the Repository they refer to,
// "namespace/name", so that a Repository, wherever it is, finds the configurations that use it.
const RepositoryIndex = "hoard.repository"

// RepositoryIndexValue is RepositoryIndex's value for a Repository.
func RepositoryIndexValue(namespace, name string) string { return namespace + "/" + name }

// IndexBackupConfigurations registers RepositoryIndex with the manager's field indexer.
func IndexBackupConfigurations(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &v1beta1.BackupConfiguration{}, RepositoryIndex, func(o client.Object) []string {
		bc, ok := o.(*v1beta1.BackupConfiguration)
		if !ok || bc.Spec.Repository.Name == "" {
			return nil
		}
		key := bc.Spec.Repository.Key(bc.Namespace)
		return []string{RepositoryIndexValue(key.Namespace, key.Name)}
	}); err != nil {
		return fmt.Errorf("failed to index BackupConfigurations by Repository: %w", err)
	}
	return nil
}
