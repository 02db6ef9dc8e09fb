package session

import (
	"bufio"
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
)

// ProgressReader finds the latest progress report a running Job printed.
type ProgressReader interface {
	// Latest returns the newest progress line of the pod's running container, or nil.
	Latest(ctx context.Context, pod *corev1.Pod) (*result.Progress, error)
}

// LogProgressReader reads progress from the tail of the running container's log. Backup
// pods have no API access, so their stdout is the channel; one small log request per poll.
type LogProgressReader struct {
	Clientset kubernetes.Interface
}

// Latest implements ProgressReader.
func (r LogProgressReader) Latest(ctx context.Context, pod *corev1.Pod) (*result.Progress, error) {
	container := runningContainer(pod)
	if container == "" {
		return nil, nil
	}
	req := r.Clientset.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: container,
		TailLines: ptr.To(int64(50)),
	})
	raw, err := req.DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read log of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return LastProgress(raw), nil
}

// LastProgress returns the last progress line in a log, or nil.
func LastProgress(log []byte) *result.Progress {
	var last *result.Progress
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if p, ok := result.ParseProgress(sc.Bytes()); ok {
			p := p
			last = &p
		}
	}
	return last
}

func runningContainer(pod *corev1.Pod) string {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Running != nil && cs.Name != jobspec.ScratchContainerName {
				return cs.Name
			}
		}
	}
	return ""
}
