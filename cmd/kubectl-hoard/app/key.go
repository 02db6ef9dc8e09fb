package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/result"
)

// AnnotationKeyID, on a storage Secret, is the restic key its password opens, written by
// `key rotate` together with the password.
const AnnotationKeyID = "hoard.io/restic-key-id"

func newKeyCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "List, add, remove and rotate the repository's restic keys (passwords), through operator Jobs",
	}
	cmd.AddCommand(newKeyListCommand(e), newKeyAddCommand(e), newKeyRemoveCommand(e), newKeyRotateCommand(e))
	return cmd
}

func newKeyListCommand(e *env) *cobra.Command {
	var output string
	w := waitFlags{wait: true, timeout: 30 * time.Minute}
	cmd := &cobra.Command{
		Use:               "list <repository>",
		Short:             "List the repository's keys; CURRENT is the one its storage Secret's password opens",
		Example:           "  kubectl hoard key list rest-repo -n demo",
		Args:              exactlyOne("repository"),
		ValidArgsFunction: e.completeNames(&stashv1alpha1.RepositoryList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, namespace, err := e.repositoryClient(ctx, args[0])
			if err != nil {
				return err
			}
			// The progress goes to stderr when the keys are printed as JSON or YAML.
			out := e.out
			if output != outputTable {
				e.out = e.errOut
			}
			op, err := e.runOperation(ctx, c, namespace, args[0], opsv1alpha1.RepositoryOperationSpec{Operation: opsv1alpha1.OperationKeyList}, w)
			e.out = out
			if err != nil {
				return err
			}
			if output != outputTable {
				return printStructured(e.out, output, op.Status.Keys)
			}
			return printTable(e.out, []string{"ID", "CURRENT", "USER", "HOST", "CREATED"}, keyRows(op.Status.Keys))
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().DurationVar(&w.timeout, "timeout", w.timeout, "how long to follow the operation before giving up")
	return cmd
}

func keyRows(keys []opsv1alpha1.RepositoryKey) [][]string {
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []string{k.ID[:min(8, len(k.ID))], map[bool]string{true: "*", false: ""}[k.Current], orDash(k.UserName), orDash(k.HostName), orDash(k.Created)})
	}
	return rows
}

func newKeyAddCommand(e *env) *cobra.Command {
	var w waitFlags
	var from string
	cmd := &cobra.Command{
		Use:   "add <repository> --from-secret <secret>",
		Short: "Add a key for the password in a Secret of the namespace (key RESTIC_PASSWORD)",
		Long: "add runs a KeyAdd operation: the operator's Job adds the key and opens the repository with the new\n" +
			"password before it reports success. The storage Secret is not changed (see `key rotate`).",
		Example:           "  kubectl hoard key add rest-repo --from-secret ops-team-restic-password -n demo",
		Args:              exactlyOne("repository"),
		ValidArgsFunction: e.completeNames(&stashv1alpha1.RepositoryList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return fmt.Errorf("%s needs --from-secret <secret>: a Secret of the namespace whose RESTIC_PASSWORD is the new password", cmd.CommandPath())
			}
			return e.operate(cmd.Context(), args[0], opsv1alpha1.RepositoryOperationSpec{
				Operation: opsv1alpha1.OperationKeyAdd, Key: &opsv1alpha1.KeyParams{NewPasswordSecret: from}}, w)
		},
	}
	cmd.Flags().StringVar(&from, "from-secret", "", "Secret whose RESTIC_PASSWORD is the new key's password (required)")
	w.addFollow(cmd, "operation")
	return cmd
}

func newKeyRemoveCommand(e *env) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "remove <repository> <key id>",
		Short: "Remove a key; the one the storage Secret's password opens is refused",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("%s needs a Repository name and a key id (`kubectl hoard key list` shows them), got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		Example: "  kubectl hoard key remove rest-repo 1a2b3c4d -n demo",
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.operate(cmd.Context(), args[0], opsv1alpha1.RepositoryOperationSpec{
				Operation: opsv1alpha1.OperationKeyRemove, Key: &opsv1alpha1.KeyParams{ID: args[1]}}, w)
		},
	}
	w.addFollow(cmd, "operation")
	return cmd
}

func newKeyRotateCommand(e *env) *cobra.Command {
	w := waitFlags{wait: true}
	cmd := &cobra.Command{
		Use:   "rotate <repository>",
		Short: "Give the repository a new password: add a key, update the storage Secret, then remove the old key",
		Long: "rotate generates a new password (it is never printed) and:\n" +
			"  1. keeps it in a new Secret <repository>-new-key-… and runs KeyAdd: the operator's Job adds the key and\n" +
			"     opens the repository with the new password;\n" +
			"  2. writes it into the Repository's storage Secret (RESTIC_PASSWORD, with your rights; the operator may\n" +
			"     not change Secrets), annotated " + AnnotationKeyID + "=<new key>;\n" +
			"  3. runs KeyRemove of the old key, whose Job opens the repository with the updated Secret first;\n" +
			"  4. deletes the Secret of step 1.\n" +
			"Stopped at any step, the repository opens with the storage Secret's password, and the error says\n" +
			"which key that is and what to do.",
		Example:           "  kubectl hoard key rotate rest-repo -n demo",
		Args:              exactlyOne("repository"),
		ValidArgsFunction: e.completeNames(&stashv1alpha1.RepositoryList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.rotate(cmd.Context(), args[0], w)
		},
	}
	cmd.Flags().DurationVar(&w.timeout, "timeout", 30*time.Minute, "how long to follow each operation before giving up")
	return cmd
}

// repositoryClient returns a client, the namespace, and checks that the Repository exists.
func (e *env) repositoryClient(ctx context.Context, repository string) (client.Client, string, error) {
	namespace, err := e.namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := e.client()
	if err != nil {
		return nil, "", err
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: repository}, &stashv1alpha1.Repository{}); err != nil {
		return nil, "", explain(err, "Repository", "repositories", namespace, repository, "get")
	}
	return c, namespace, nil
}

// newPassword is 32 random bytes, base64url: no whitespace, so restic reads it from a file
// exactly as it reads it from RESTIC_PASSWORD.
func newPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("failed to generate a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (e *env) rotate(ctx context.Context, repoName string, w waitFlags) error {
	namespace, err := e.namespace()
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	repo := &stashv1alpha1.Repository{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: repoName}, repo); err != nil {
		return explain(err, "Repository", "repositories", namespace, repoName, "get")
	}
	secretName := repo.Spec.Backend.StorageSecretName
	if secretName == "" {
		return fmt.Errorf("Repository %s/%s names no storage Secret (spec.backend.storageSecretName): there is no password to rotate", namespace, repoName)
	}
	// Another Repository with the same Secret would lose access with the new password.
	repos := &stashv1alpha1.RepositoryList{}
	if err := c.List(ctx, repos, client.InNamespace(namespace)); err != nil {
		return explain(err, "Repositories of namespace", "repositories", namespace, "*", "list")
	}
	for _, o := range repos.Items {
		if o.Name != repoName && o.Spec.Backend.StorageSecretName == secretName {
			return fmt.Errorf("Secret %s/%s is also the storage Secret of Repository %s: give each Repository its own Secret before rotating, or the other would lose access", namespace, secretName, o.Name)
		}
	}
	// Metadata only: the plugin never reads the repository password.
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: secretName}, meta); err != nil {
		return explain(err, "Secret", "secrets", namespace, secretName, "get")
	}

	pw, err := newPassword()
	if err != nil {
		return err
	}
	holder := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: repoName + "-new-key-", Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-hoard", "hoard.io/repository": repoName},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{result.PasswordKey: []byte(pw)},
	}
	if err := c.Create(ctx, holder); err != nil {
		return explain(err, "Secret", "secrets", namespace, holder.GenerateName+"…", "create")
	}
	e.say("1/4 new password kept in Secret %s/%s", namespace, holder.Name)
	dropHolder := func() {
		if err := c.Delete(ctx, holder); err != nil {
			e.say("could not delete Secret %s/%s (%v): delete it by hand", namespace, holder.Name, err)
		}
	}

	added, err := e.runOperation(ctx, c, namespace, repoName, opsv1alpha1.RepositoryOperationSpec{
		Operation: opsv1alpha1.OperationKeyAdd, Key: &opsv1alpha1.KeyParams{NewPasswordSecret: holder.Name}}, w)
	if err != nil {
		if added != nil && added.Status.KeyID != "" {
			return fmt.Errorf("key rotation of Repository %s/%s stopped after adding key %s: %w; Secret %s still holds the old password (key %s), which opens the repository; the new password is in Secret %s",
				namespace, repoName, short(added.Status.KeyID), err, secretName, short(added.Status.CurrentKeyID), holder.Name)
		}
		dropHolder()
		return fmt.Errorf("key rotation of Repository %s/%s stopped: %w; Secret %s was not changed and its password still opens the repository", namespace, repoName, err, secretName)
	}
	newKey, oldKey := added.Status.KeyID, added.Status.CurrentKeyID
	e.say("2/4 key %s added and opened with the new password; Secret %s/%s still holds the old password (key %s)", short(newKey), namespace, secretName, short(oldKey))

	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{AnnotationKeyID: newKey}},
		"data":     map[string]string{result.PasswordKey: base64.StdEncoding.EncodeToString([]byte(pw))},
	})
	if err != nil {
		return fmt.Errorf("failed to encode the Secret patch: %w", err)
	}
	target := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: namespace}}
	if err := c.Patch(ctx, target, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return fmt.Errorf("key %s was added, but Secret %s/%s could not be updated (%v): it still holds the old password (key %s), which opens the repository, as does the new one in Secret %s; rerun `kubectl hoard key rotate %s` with the right to patch Secrets, or remove key %s",
			short(newKey), namespace, secretName, oneLine(err.Error()), short(oldKey), holder.Name, repoName, short(newKey))
	}
	e.say("3/4 Secret %s/%s now holds the new password (key %s)", namespace, secretName, short(newKey))

	if _, err := e.runOperation(ctx, c, namespace, repoName, opsv1alpha1.RepositoryOperationSpec{
		Operation: opsv1alpha1.OperationKeyRemove, Key: &opsv1alpha1.KeyParams{ID: oldKey}}, w); err != nil {
		return fmt.Errorf("Secret %s/%s holds the new password (key %s), but the old key %s is still in the repository: %w; `kubectl hoard key remove %s %s` removes it",
			namespace, secretName, short(newKey), short(oldKey), err, repoName, short(oldKey))
	}
	dropHolder()
	e.say("4/4 rotated: key %s removed; Secret %s/%s holds the password of key %s", short(oldKey), namespace, secretName, short(newKey))
	return nil
}

func short(id string) string { return id[:min(8, len(id))] }

// say prints one progress line.
func (e *env) say(format string, args ...any) {
	_, _ = fmt.Fprintf(e.out, format+"\n", args...)
}
