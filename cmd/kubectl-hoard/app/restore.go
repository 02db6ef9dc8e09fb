package app

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

type restoreFlags struct {
	to, task, repository, sourceHost string
	wait                             waitFlags
}

func newRestoreCommand(e *env) *cobra.Command {
	var f restoreFlags
	cmd := &cobra.Command{
		Use:   "restore <snapshot> --to <appbinding>",
		Short: "Restore one snapshot into a database: create a RestoreSession naming it",
		Long: "Restore the Snapshot <snapshot> (a name from `kubectl hoard snapshots`) into the AppBinding --to.\n" +
			"With --repository, <snapshot> is a restic snapshot id (or \"latest\") in that Repository instead.",
		Example: "  kubectl hoard restore rest-repo-4b2a9e1c --to restored-mysql -n demo --wait\n" +
			"  kubectl hoard restore 4b2a9e1c --repository rest-repo --to restored-mysql -n demo --task mysql-restore-10.11",
		Args:              exactlyOne("snapshot"),
		ValidArgsFunction: e.completeNames(newSnapshotList()),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.to == "" {
				return fmt.Errorf("%s needs --to <appbinding>: the AppBinding of the database to restore into", cmd.CommandPath())
			}
			return e.restore(cmd.Context(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "AppBinding of the database to restore into (required)")
	fl.StringVar(&f.task, "task", "", "restore Task (default: the AppBinding's addon restore task)")
	fl.StringVar(&f.repository, "repository", "", "take <snapshot> as a restic snapshot id in this Repository instead of a Snapshot name")
	fl.StringVar(&f.sourceHost, "source-host", "", "with --repository: the host whose snapshot it is (default the target's)")
	_ = cmd.RegisterFlagCompletionFunc("to", e.completeNames(&appcatalogv1alpha1.AppBindingList{}))
	_ = cmd.RegisterFlagCompletionFunc("repository", e.completeNames(&stashv1alpha1.RepositoryList{}))
	f.wait.add(cmd, "RestoreSession")
	return cmd
}

// restoreSource is the snapshot to restore: which Repository, which restic id, which host.
type restoreSource struct {
	repository, id, host string
}

// snapshotSource reads a Snapshot object's repository, id and host.
func snapshotSource(s *unstructured.Unstructured) (restoreSource, error) {
	get := func(f string) string {
		v, _, _ := unstructured.NestedString(s.Object, "status", f)
		return v
	}
	src := restoreSource{repository: get("repository"), id: firstNonEmpty(get("fullID"), get("id")), host: get("hostname")}
	if src.repository == "" {
		src.repository = s.GetLabels()[snapshotLabelRepository]
	}
	if src.repository == "" || src.id == "" {
		return src, fmt.Errorf("Snapshot %s/%s has no status.repository or status.id yet: wait for the operator to record it, or pass --repository with a restic id",
			s.GetNamespace(), s.GetName())
	}
	return src, nil
}

// newRestoreSession is the RestoreSession that restores src into the AppBinding to.
func newRestoreSession(namespace, to, task string, src restoreSource) *stashv1beta1.RestoreSession {
	rule := stashv1beta1.Rule{Snapshots: []string{src.id}, SourceHost: src.host}
	return &stashv1beta1.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{
			// The API server adds a unique suffix: two restores into one database never collide.
			GenerateName: to + "-restore-",
			Namespace:    namespace,
		},
		Spec: stashv1beta1.RestoreSessionSpec{
			Task:       stashv1beta1.TaskRef{Name: task},
			Repository: stashv1beta1.RepositoryRef{Name: src.repository},
			Target: &stashv1beta1.RestoreTarget{
				Ref:   stashv1beta1.TargetRef{APIVersion: appcatalogv1alpha1.GroupVersion.String(), Kind: "AppBinding", Name: to},
				Rules: []stashv1beta1.Rule{rule},
			},
		},
	}
}

func (e *env) restore(ctx context.Context, snapshot string, f restoreFlags) error {
	namespace, err := e.namespace()
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	src := restoreSource{repository: f.repository, id: snapshot, host: f.sourceHost}
	if f.repository == "" {
		s := &unstructured.Unstructured{}
		s.SetGroupVersionKind(snapshotGVK)
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: snapshot}, s); err != nil {
			if meta.IsNoMatchError(err) {
				return fmt.Errorf("the cluster has no Snapshot kind: pass --repository <repository> with a restic snapshot id instead of %q", snapshot)
			}
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("Snapshot %s/%s not found: `kubectl hoard snapshots -n %s` lists them", namespace, snapshot, namespace)
			}
			return explain(err, "Snapshot", "snapshots", namespace, snapshot, "get")
		}
		if src, err = snapshotSource(s); err != nil {
			return err
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: src.repository}, &stashv1alpha1.Repository{}); err != nil {
		return explain(err, "Repository", "repositories", namespace, src.repository, "get")
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: f.to}, &appcatalogv1alpha1.AppBinding{}); err != nil {
		return explain(err, "AppBinding", "appbindings", namespace, f.to, "get")
	}
	rs := newRestoreSession(namespace, f.to, f.task, src)
	if err := c.Create(ctx, rs); err != nil {
		return explain(err, "RestoreSession", "restoresessions", namespace, rs.GenerateName+"…", "create")
	}
	if _, err := fmt.Fprintf(e.out, "RestoreSession %s/%s created: snapshot %s of Repository %s into AppBinding %s\n",
		namespace, rs.Name, src.id, src.repository, f.to); err != nil {
		return err
	}
	if !f.wait.wait {
		return nil
	}
	return follow(ctx, e.out, "restoresession/"+rs.Name, e.poll, f.wait.timeout, func(ctx context.Context) (report, error) {
		cur := &stashv1beta1.RestoreSession{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rs), cur); err != nil {
			return report{}, explain(err, "RestoreSession", "restoresessions", namespace, rs.Name, "get")
		}
		return restoreReport(cur), nil
	})
}
