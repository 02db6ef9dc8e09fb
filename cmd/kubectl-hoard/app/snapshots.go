package app

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
)

// Snapshots are read as unstructured objects of Stash's group, so the plugin needs no Go type
// of them: the operator keeps them (issue 12 part 1), the plugin only reads them.
var (
	snapshotGVK     = schema.GroupVersionKind{Group: "repositories.stash.appscode.com", Version: "v1alpha1", Kind: "Snapshot"}
	snapshotListGVK = snapshotGVK.GroupVersion().WithKind("SnapshotList")
)

// snapshotLabelRepository is the label Stash's guides select Snapshots by.
const snapshotLabelRepository = "repository"

func newSnapshotList() *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(snapshotListGVK)
	return l
}

func newSnapshotsCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "snapshots [<repository>]",
		Aliases: []string{"snapshot"},
		Short:   "List the Snapshots of the namespace, or of one Repository, newest last",
		Example: "  kubectl hoard snapshots -n demo\n  kubectl hoard snapshots rest-repo -n demo -o yaml",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("%s takes at most one Repository name, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		ValidArgsFunction: e.completeNames(&stashv1alpha1.RepositoryList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			repo := ""
			if len(args) == 1 {
				repo = args[0]
			}
			return e.snapshots(cmd.Context(), repo, output)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func (e *env) snapshots(ctx context.Context, repo, output string) error {
	namespace, err := e.namespace()
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if repo != "" {
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: repo}, &stashv1alpha1.Repository{}); err != nil {
			return explain(err, "Repository", "repositories", namespace, repo, "get")
		}
	}
	list := newSnapshotList()
	opts := []client.ListOption{client.InNamespace(namespace)}
	if repo != "" {
		opts = append(opts, client.MatchingLabels{snapshotLabelRepository: repo})
	}
	if err := c.List(ctx, list, opts...); err != nil {
		if meta.IsNoMatchError(err) {
			return fmt.Errorf("the cluster has no Snapshot kind (%s): upgrade Hoard to a version that records Snapshots", snapshotGVK.GroupVersion())
		}
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("you may not list Snapshots in namespace %s: ask for the RBAC right to list snapshots.repositories.stash.appscode.com there", namespace)
		}
		return fmt.Errorf("failed to list the Snapshots in namespace %s: %w", namespace, err)
	}
	sortSnapshots(list.Items)
	if output != outputTable {
		return printStructured(e.out, output, list.UnstructuredContent())
	}
	if len(list.Items) == 0 {
		where := "namespace " + namespace
		if repo != "" {
			where = "Repository " + namespace + "/" + repo
		}
		_, err := fmt.Fprintf(e.out, "No Snapshots in %s.\n", where)
		return err
	}
	return printTable(e.out, snapshotHeader, snapshotRows(list.Items, time.Now()))
}

var snapshotHeader = []string{"NAME", "ID", "REPOSITORY", "HOSTNAME", "CREATED", "SIZE", "TARGET", "SESSION", "VERIFIED"}

// snapshotRows are the table rows: Stash's columns (name, id, repository, hostname, created)
// and Hoard's extras.
func snapshotRows(items []unstructured.Unstructured, now time.Time) [][]string {
	rows := make([][]string, 0, len(items))
	for i := range items {
		s := &items[i]
		str := func(f ...string) string {
			v, _, _ := unstructured.NestedString(s.Object, append([]string{"status"}, f...)...)
			return orDash(v)
		}
		created := "-"
		if t, err := time.Parse(time.RFC3339, str("time")); err == nil {
			created = t.UTC().Format(time.RFC3339) + " (" + shortDuration(now.Sub(t)) + " ago)"
		}
		rows = append(rows, []string{s.GetName(), str("id"), str("repository"), str("hostname"), created,
			str("totalSize"), str("target"), str("session"), str("verification", "phase")})
	}
	return rows
}

// sortSnapshots orders by the time restic took them, then by name.
func sortSnapshots(items []unstructured.Unstructured) {
	sort.SliceStable(items, func(i, j int) bool {
		ti, _, _ := unstructured.NestedString(items[i].Object, "status", "time")
		tj, _, _ := unstructured.NestedString(items[j].Object, "status", "time")
		if ti != tj {
			return ti < tj
		}
		return items[i].GetName() < items[j].GetName()
	})
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// shortDuration is kubectl's age style: 45s, 12m, 5h, 3d.
func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
