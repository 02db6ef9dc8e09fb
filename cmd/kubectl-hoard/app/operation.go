package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
)

// The repository operations run as Jobs of the operator (RepositoryOperation): the plugin
// creates the request and follows its status; it never runs restic and never reads the
// repository password.

func newUnlockCommand(e *env) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "unlock <repository>",
		Short: "Remove the repository's stale locks, through a Job that runs when no other Hoard Job uses it",
		Long: "unlock creates a RepositoryOperation. The operator runs it when no backup, restore or other operation\n" +
			"uses the repository and none waits ahead of it, so every lock left is stale and all are removed\n" +
			"(only restic's stale ones when the Repository is annotated as shared with other tools).",
		Example:           "  kubectl hoard unlock rest-repo -n demo",
		Args:              exactlyOne("repository"),
		ValidArgsFunction: e.completeNames(&stashv1alpha1.RepositoryList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.operate(cmd.Context(), args[0], opsv1alpha1.RepositoryOperationSpec{Operation: opsv1alpha1.OperationUnlock}, w)
		},
	}
	w.addFollow(cmd, "operation")
	return cmd
}

func newCheckCommand(e *env) *cobra.Command {
	var w waitFlags
	var subset string
	cmd := &cobra.Command{
		Use:               "check <repository>",
		Short:             "Run restic check on the repository, through a Job under the one-writer rule",
		Example:           "  kubectl hoard check rest-repo -n demo --read-data-subset=10%",
		Args:              exactlyOne("repository"),
		ValidArgsFunction: e.completeNames(&stashv1alpha1.RepositoryList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := opsv1alpha1.RepositoryOperationSpec{Operation: opsv1alpha1.OperationCheck}
			// The API server validates the value (the CRD's pattern), and its refusal names the field.
			if subset != "" {
				spec.Check = &opsv1alpha1.CheckParams{ReadDataSubset: subset}
			}
			return e.operate(cmd.Context(), args[0], spec, w)
		},
	}
	cmd.Flags().StringVar(&subset, "read-data-subset", "", `also read this part of the data: "n/t", "x%" or a size such as "500M"`)
	w.addFollow(cmd, "operation")
	return cmd
}

// addFollow is --wait (on by default: an operation is short and its outcome is the point)
// and --timeout.
func (w *waitFlags) addFollow(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&w.wait, "wait", true, "follow the "+what+" to its outcome; --wait=false returns once it is created")
	cmd.Flags().DurationVar(&w.timeout, "timeout", 30*time.Minute, "how long --wait follows before giving up (the "+what+" goes on)")
}

// newOperation is the RepositoryOperation that runs spec on repository.
func newOperation(namespace, repository string, spec opsv1alpha1.RepositoryOperationSpec) *opsv1alpha1.RepositoryOperation {
	spec.Repository = repository
	return &opsv1alpha1.RepositoryOperation{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: repository + "-" + strings.ToLower(string(spec.Operation)) + "-",
			Namespace:    namespace,
		},
		Spec: spec,
	}
}

func (e *env) operate(ctx context.Context, repository string, spec opsv1alpha1.RepositoryOperationSpec, w waitFlags) error {
	namespace, err := e.namespace()
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: repository}, &stashv1alpha1.Repository{}); err != nil {
		return explain(err, "Repository", "repositories", namespace, repository, "get")
	}
	_, err = e.runOperation(ctx, c, namespace, repository, spec, w)
	return err
}

// runOperation creates the operation and, with w.wait, follows it and returns it finished.
func (e *env) runOperation(ctx context.Context, c client.Client, namespace, repository string, spec opsv1alpha1.RepositoryOperationSpec, w waitFlags) (*opsv1alpha1.RepositoryOperation, error) {
	op := newOperation(namespace, repository, spec)
	if err := c.Create(ctx, op); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the cluster has no RepositoryOperation kind (%s): upgrade Hoard to run %s", opsv1alpha1.GroupVersion, strings.ToLower(string(spec.Operation)))
		}
		return nil, explain(err, "RepositoryOperation", "repositoryoperations.operations.hoard.io", namespace, op.GenerateName+"…", "create")
	}
	if _, err := fmt.Fprintf(e.out, "RepositoryOperation %s/%s created: %s of Repository %s\n", namespace, op.Name, spec.Operation, repository); err != nil {
		return nil, err
	}
	if !w.wait {
		return op, nil
	}
	cur := &opsv1alpha1.RepositoryOperation{}
	err := follow(ctx, e.out, "repositoryoperation/"+op.Name, e.poll, w.timeout, func(ctx context.Context) (report, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(op), cur); err != nil {
			return report{}, explain(err, "RepositoryOperation", "repositoryoperations.operations.hoard.io", namespace, op.Name, "get")
		}
		return operationReport(cur), nil
	})
	return cur, err
}

// operationReport describes a RepositoryOperation: its phase and message while it waits or
// runs, its outcome when it ends.
func operationReport(op *opsv1alpha1.RepositoryOperation) report {
	name := "RepositoryOperation " + op.Namespace + "/" + op.Name
	phase := op.Status.Phase
	if phase == "" {
		phase = opsv1alpha1.OperationPending
	}
	line := name + ": " + string(phase)
	if op.Status.Message != "" && phase != opsv1alpha1.OperationSucceeded && phase != opsv1alpha1.OperationFailed {
		line += ": " + op.Status.Message
	}
	r := report{lines: []string{line}}
	switch phase {
	case opsv1alpha1.OperationSucceeded:
		r.done = true
		r.lines = append(r.lines, fmt.Sprintf("%s succeeded: %s", name, firstNonEmpty(op.Status.Message, "done")))
	case opsv1alpha1.OperationFailed:
		r.done = true
		r.err = fmt.Errorf("%s failed: %s", name, firstNonEmpty(op.Status.Message, "no reason recorded"))
	}
	return r
}

func newMigrateCommand(e *env) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "migrate <repository>",
		Short: "Upgrade a Stash-era repository (format 1) to format 2 with compression, after a check, and repack its data compressed",
		Long: "migrate runs restic check, restic migrate upgrade_repo_v2 and restic prune --repack-uncompressed in an\n" +
			"operator Job, and prints the repository's size before and after the repack. It is refused while a\n" +
			"session uses or waits for the repository: pause the BackupConfigurations that use it first. An\n" +
			"interrupted repack loses no snapshot; migrate again finishes it.",
		Example:           "  kubectl hoard pause nightly -n demo && kubectl hoard migrate gcs-repo -n demo && kubectl hoard resume nightly -n demo",
		Args:              exactlyOne("repository"),
		ValidArgsFunction: e.completeNames(&stashv1alpha1.RepositoryList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.operate(cmd.Context(), args[0], opsv1alpha1.RepositoryOperationSpec{Operation: opsv1alpha1.OperationMigrate}, w)
		},
	}
	w.addFollow(cmd, "operation")
	return cmd
}
