package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scrub"
)

// errHookFailed makes run-hook exit non-zero after it has reported a failed hook.
var errHookFailed = errors.New("the hook failed")

// newRunHookCommand runs one hook inside a session's Job (the operator renders the flags,
// see package hookjob) and reports it as a result.Hook termination message. Only an exec
// hook uses the API, with the token of the session's hook identity mounted into this
// container alone.
func newRunHookCommand() *cobra.Command {
	var (
		name, handler, summary, namespace, pod, container, tokenDir, terminationLog string
		timeout                                                                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run-hook",
		Short: "Run one backup or restore hook (exec, httpGet, httpPost, tcpSocket) and report it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec := hook.Spec{Name: name, Timeout: timeout, Namespace: namespace, Pod: pod, Container: container}
			h, err := func() (*result.Hook, error) {
				if err := json.Unmarshal([]byte(handler), &spec.Handler); err != nil {
					return nil, fmt.Errorf("--handler is not a hook handler: %w", err)
				}
				if err := json.Unmarshal([]byte(summary), &spec.Summary); err != nil {
					return nil, fmt.Errorf("--summary is not a session summary: %w", err)
				}
				if spec.Handler.Exec != nil {
					ex, sc, err := podExecer(tokenDir)
					if err != nil {
						return nil, err
					}
					spec.Execer, spec.Scrubber = ex, sc
				}
				return hook.Run(cmd.Context(), spec), nil
			}()
			if err != nil {
				h = &result.Hook{Name: name, Action: hook.Action(&spec.Handler), Phase: result.PhaseFailed, Error: err.Error()}
			}
			b, err := result.MarshalHook(h)
			if err != nil {
				return err
			}
			if terminationLog != "" {
				if _, statErr := os.Stat(terminationLog); statErr == nil {
					if err := os.WriteFile(terminationLog, b, 0o644); err != nil {
						return fmt.Errorf("failed to write termination message: %w", err)
					}
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), h.Describe())
			if !h.Succeeded() {
				return errHookFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the hook: preBackup, postBackup, preRestore or postRestore")
	f.StringVar(&handler, "handler", "", "the hook's handler as JSON (exec, httpGet, httpPost or tcpSocket)")
	f.StringVar(&summary, "summary", "{}", "the session's summary as JSON, which templates see")
	f.DurationVar(&timeout, "timeout", hook.DefaultTimeout, "deadline of the hook")
	f.StringVar(&namespace, "namespace", "", "namespace of the pod an exec hook runs in")
	f.StringVar(&pod, "pod", "", "pod an exec hook runs in")
	f.StringVar(&container, "container", "", "container an exec hook runs in (default: the handler's containerName)")
	f.StringVar(&tokenDir, "token-dir", "/var/run/secrets/kubernetes.io/serviceaccount", "directory with the hook identity's token and ca.crt")
	f.StringVar(&terminationLog, "termination-log", result.TerminationMessagePath, "where the kubelet reads the termination message")
	return cmd
}

// podExecer builds the exec client from the hook identity's token; the token itself is
// scrubbed from everything the hook reports.
func podExecer(tokenDir string) (hook.Execer, *scrub.Scrubber, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, nil, errors.New("exec hook: not running in a pod (KUBERNETES_SERVICE_HOST is unset)")
	}
	token, err := os.ReadFile(filepath.Join(tokenDir, "token"))
	if err != nil {
		return nil, nil, fmt.Errorf("exec hook: this Job has no hook identity (%w); the operator gives it one when the session has an exec hook", err)
	}
	cfg := &rest.Config{
		Host:            "https://" + net.JoinHostPort(host, port),
		BearerTokenFile: filepath.Join(tokenDir, "token"),
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(tokenDir, "ca.crt")},
	}
	ex, err := hook.NewPodExecer(cfg)
	if err != nil {
		return nil, nil, err
	}
	return ex, scrub.New(string(token)), nil
}
