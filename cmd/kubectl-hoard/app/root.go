// Package app holds the kubectl-hoard plugin's cobra commands.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/internal/scheme"
)

// Main runs the plugin with args and returns the process's exit code. An error is printed as
// one line on stderr: cobra's usage text would bury it.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := NewRootCommand(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		_, _ = fmt.Fprintln(stderr, "error: "+oneLine(err.Error()))
		return 1
	}
	return 0
}

// oneLine keeps an error on one line, whatever a wrapped API error carried.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// env is what every command needs: the kubeconfig flags, the clients made from them and the
// output streams.
type env struct {
	flags  *genericclioptions.ConfigFlags
	out    io.Writer
	errOut io.Writer
	// poll is how often --wait reads the object it follows.
	poll time.Duration
}

// NewRootCommand returns `kubectl hoard` with every subcommand.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	e := &env{flags: genericclioptions.NewConfigFlags(true), out: stdout, errOut: stderr, poll: 2 * time.Second}
	root := &cobra.Command{
		Use:   "kubectl-hoard",
		Short: "Day-2 operations on Hoard (Stash v1beta1 API): trigger, pause, resume, snapshots, restore, debug",
		Long: "kubectl hoard works on Hoard's objects with your kubeconfig and your own rights.\n" +
			"It never runs restic locally and never reads a repository password.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			// cobra names the command "kubectl hoard" in help and completion scripts.
			cobra.CommandDisplayNameAnnotation: "kubectl hoard",
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	e.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(
		newTriggerCommand(e),
		newPauseCommand(e, true),
		newPauseCommand(e, false),
		newSnapshotsCommand(e),
		newRestoreCommand(e),
		newDebugCommand(e),
		newUnlockCommand(e),
		newCheckCommand(e),
		newKeyCommand(e),
		newMigrateCommand(e),
		newVersionCommand(e),
	)
	return root
}

// namespace is -n, else the kubeconfig context's namespace, else "default".
func (e *env) namespace() (string, error) {
	ns, _, err := e.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("failed to read the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}

// client is a controller-runtime client that knows Hoard's kinds.
func (e *env) client() (client.Client, error) {
	cfg, err := e.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("failed to load the kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the cluster: %w", err)
	}
	return c, nil
}

// clientset is client-go's, for what controller-runtime's client cannot do (pod logs).
func (e *env) clientset() (kubernetes.Interface, error) {
	cfg, err := e.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("failed to load the kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the cluster: %w", err)
	}
	return cs, nil
}

func (e *env) dynamic() (dynamic.Interface, error) {
	cfg, err := e.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("failed to load the kubeconfig: %w", err)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the cluster: %w", err)
	}
	return d, nil
}

// errCanceled is returned when the user interrupts a --wait: the object goes on without us.
var errCanceled = errors.New("interrupted")
