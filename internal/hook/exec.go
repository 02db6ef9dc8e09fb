package hook

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// PodExecer runs commands through the pods/exec API with the Job's hook identity, which may
// create pods/exec in the session's namespace and do nothing else.
type PodExecer struct {
	config *rest.Config
	client kubernetes.Interface
}

// NewPodExecer returns an Execer for the API server cfg points at.
func NewPodExecer(cfg *rest.Config) (*PodExecer, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to create a Kubernetes client: %w", err)
	}
	return &PodExecer{config: cfg, client: cs}, nil
}

// Exec runs command in the container and returns the end of its stdout and stderr together.
// It uses SPDY over POST, which RBAC authorises as create on pods/exec.
func (p *PodExecer) Exec(ctx context.Context, namespace, pod, container string, command []string) ([]byte, error) {
	req := p.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(p.config, "POST", req.URL())
	if err != nil {
		return nil, fmt.Errorf("failed to prepare exec: %w", err)
	}
	out := &tailBuffer{max: 4 * MaxOutputBytes}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: out, Stderr: out})
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		return out.Bytes(), &ExitError{Code: exit.ExitStatus()}
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("exec failed: %w", err)
	}
	return out.Bytes(), nil
}

// tailBuffer keeps the last max bytes written to it; stdout and stderr write concurrently.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}
