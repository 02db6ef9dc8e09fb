// Package hookjob is the operator's side of Stash hooks (docs/design/0019-hooks.md). A pre
// hook runs as the first init container of the session's Job, so that its failure stops the
// pod before the dump or restore starts. A post hook runs in a Job of its own, created after
// the session's Job ended however it ended (failed, deleted, past its deadline), with the
// session's outcome in its templates. An exec hook runs in a ready pod behind the target
// AppBinding's Service, which the operator picks, through the pods/exec API with a
// per-session ServiceAccount bound to the shipped ClusterRole hoard-hook-exec in the
// session's namespace; its token is mounted into the hook container alone.
package hookjob

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/podsecurity"
)

// Where is what the operator resolved for one hook: the handler with the target's host filled
// in where it names none, and for exec the pod to run in.
type Where struct {
	Handler v1beta1.Handler
	// Pod is the ready pod of the target an exec hook runs in.
	Pod string
}

// TargetError is a hook that cannot run against the session's target; the session fails
// with it before anything starts.
type TargetError struct{ Msg string }

func (e *TargetError) Error() string { return e.Msg }

// Resolve checks a hook and fills in where it runs: exec needs a ready pod behind the target
// AppBinding's Service; httpGet, httpPost and tcpSocket without a host go to the target's
// host (its Service's DNS name, or its URL's host).
func Resolve(ctx context.Context, c client.Reader, namespace, name string, h v1beta1.Handler, target v1beta1.TargetRef) (Where, error) {
	w := Where{Handler: *h.DeepCopy()}
	if err := hook.Validate(&h); err != nil {
		return w, &TargetError{Msg: fmt.Sprintf("%s hook: %v", name, err)}
	}
	needsHost := (h.HTTPGet != nil && h.HTTPGet.Host == "") || (h.HTTPPost != nil && h.HTTPPost.Host == "") || (h.TCPSocket != nil && h.TCPSocket.Host == "")
	if h.Exec == nil && !needsHost {
		return w, nil
	}
	if target.Kind != "AppBinding" || target.Name == "" {
		return w, &TargetError{Msg: fmt.Sprintf("%s hook needs an AppBinding target to run in or to send to (the target is %s %q)", name, target.Kind, target.Name)}
	}
	ab := &v1alpha1.AppBinding{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: target.Name}, ab); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return w, &TargetError{Msg: fmt.Sprintf("%s hook: AppBinding %s/%s not found", name, namespace, target.Name)}
		}
		return w, fmt.Errorf("failed to get AppBinding %s/%s: %w", namespace, target.Name, err)
	}
	svc := ab.Spec.ClientConfig.Service
	if needsHost {
		host := ""
		if svc != nil {
			host = svc.Name + "." + namespace + ".svc"
		} else if u := ab.Spec.ClientConfig.URL; u != nil {
			host = urlHost(*u)
		}
		if host == "" {
			return w, &TargetError{Msg: fmt.Sprintf("%s hook names no host, and AppBinding %s/%s gives none", name, namespace, ab.Name)}
		}
		switch {
		case w.Handler.HTTPGet != nil:
			w.Handler.HTTPGet.Host = host
		case w.Handler.HTTPPost != nil:
			w.Handler.HTTPPost.Host = host
		case w.Handler.TCPSocket != nil:
			w.Handler.TCPSocket.Host = host
		}
	}
	if h.Exec == nil {
		return w, nil
	}
	if svc == nil {
		return w, &TargetError{Msg: fmt.Sprintf("%s exec hook runs in a pod behind the target's Service, but AppBinding %s/%s points at a URL, not a Service: use httpGet, httpPost or tcpSocket, or point it at a Service", name, namespace, ab.Name)}
	}
	pod, err := readyPod(ctx, c, namespace, svc.Name, h.ContainerName)
	if err != nil {
		return w, err
	}
	w.Pod = pod
	return w, nil
}

// urlHost is the host of an AppBinding URL, in either form it accepts (tcp(host:port)/ or
// scheme://host:port).
func urlHost(raw string) string {
	if i := strings.Index(raw, "tcp("); i >= 0 {
		rest := raw[i+4:]
		if j := strings.Index(rest, ")"); j >= 0 {
			rest = rest[:j]
		}
		if k := strings.LastIndex(rest, ":"); k >= 0 {
			return rest[:k]
		}
		return rest
	}
	if u, err := url.Parse(raw); err == nil {
		return u.Hostname()
	}
	return ""
}

// readyPod picks a ready pod behind the Service, the first by name so that a pre and a post
// hook land on the same pod while it stays ready.
func readyPod(ctx context.Context, c client.Reader, namespace, service, container string) (string, error) {
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: service}, svc); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return "", &TargetError{Msg: fmt.Sprintf("exec hook: Service %s/%s of the target not found", namespace, service)}
		}
		return "", fmt.Errorf("failed to get Service %s/%s: %w", namespace, service, err)
	}
	if len(svc.Spec.Selector) == 0 {
		return "", &TargetError{Msg: fmt.Sprintf("exec hook: Service %s/%s has no selector, so no pod of the target is known", namespace, service)}
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(svc.Spec.Selector)}); err != nil {
		return "", fmt.Errorf("failed to list pods of Service %s/%s: %w", namespace, service, err)
	}
	var ready []string
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp.IsZero() && isReady(p) && hasContainer(p, container) {
			ready = append(ready, p.Name)
		}
	}
	if len(ready) == 0 {
		msg := fmt.Sprintf("exec hook: no ready pod behind Service %s/%s", namespace, service)
		if container != "" {
			msg += " with a container " + container
		}
		return "", &TargetError{Msg: msg}
	}
	sort.Strings(ready)
	return ready[0], nil
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasContainer(p *corev1.Pod, name string) bool {
	if name == "" {
		return true
	}
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Container names of the hooks in the Jobs.
func ContainerName(hookName string) string {
	return map[string]string{hook.PreBackup: "pre-backup-hook", hook.PostBackup: "post-backup-hook",
		hook.PreRestore: "pre-restore-hook", hook.PostRestore: "post-restore-hook"}[hookName]
}

// TokenVolumeName is the projected volume with the hook identity's token, mounted into the
// hook container only.
const TokenVolumeName = "hoard-hook-token"

// tokenPath is where the hook container finds its token (run-hook's default --token-dir).
const tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// tokenSeconds is the lifetime of the projected token; the identity is deleted when the
// session finishes, which invalidates it earlier.
const tokenSeconds = int64(600)

// Container renders the container that runs one hook with `hoard run-hook`. The handler and
// summary travel as flags: they hold what the session's spec and status show anyway, never a
// Secret.
func Container(image, name string, w Where, sum hook.Summary, namespace string, timeout time.Duration) (corev1.Container, error) {
	handler, err := json.Marshal(w.Handler)
	if err != nil {
		return corev1.Container{}, fmt.Errorf("failed to encode the %s hook: %w", name, err)
	}
	summary, err := json.Marshal(sum)
	if err != nil {
		return corev1.Container{}, fmt.Errorf("failed to encode the session summary: %w", err)
	}
	args := []string{"run-hook", "--name=" + name, "--handler=" + string(handler), "--summary=" + string(summary),
		"--timeout=" + timeout.String()}
	c := corev1.Container{
		Name:                     ContainerName(name),
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          podsecurity.Container(true),
	}
	if w.Handler.Exec != nil {
		args = append(args, "--namespace="+namespace, "--pod="+w.Pod)
		c.VolumeMounts = []corev1.VolumeMount{{Name: TokenVolumeName, MountPath: tokenPath, ReadOnly: true}}
	}
	c.Args = args
	return c, nil
}

// TokenVolume is the projected token of the hook identity with the cluster's CA, as the
// kubelet would mount it, for the hook container alone.
func TokenVolume() corev1.Volume {
	exp := tokenSeconds
	return corev1.Volume{Name: TokenVolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
		},
	}}}
}
