package session

import (
	"context"
	"fmt"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/internal/scrub"
)

// JobScrubber returns a Scrubber for the credentials a Job's pod was given: the credential
// keys (scrub.SecretKey) of every Secret its template mounts or takes variables from. A
// Job can print only what it was given, so these are the values its termination messages
// may quote. A Secret that is gone (or that the operator may not read) is skipped: the Job
// scrubbed its own output already, and the rules that need no values still apply.
func JobScrubber(ctx context.Context, r client.Reader, job *batchv1.Job) (*scrub.Scrubber, error) {
	return secretsScrubber(ctx, r, job.Namespace, job.Name, secretNames(&job.Spec.Template.Spec))
}

// CopiesScrubber returns a Scrubber for the credentials of the Secrets copied for a session's
// Job (TargetSecretName, StorageSecretName), for when the Job is gone: the copies stay until
// the session is recorded.
func CopiesScrubber(ctx context.Context, r client.Reader, namespace, jobName string) (*scrub.Scrubber, error) {
	return secretsScrubber(ctx, r, namespace, jobName, []string{TargetSecretName(jobName), StorageSecretName(jobName)})
}

// secretsScrubber returns a Scrubber for the credentials of the named Secrets, skipping those
// that are gone or that the operator may not read.
func secretsScrubber(ctx context.Context, r client.Reader, namespace, jobName string, names []string) (*scrub.Scrubber, error) {
	var secrets []string
	for _, name := range names {
		s := &corev1.Secret{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
				continue
			}
			return nil, fmt.Errorf("failed to read Secret %s/%s to scrub Job %s's messages: %w", namespace, name, jobName, err)
		}
		secrets = append(secrets, credentials(s.Data)...)
	}
	return scrub.New(secrets...), nil
}

// credentials are the credential values of a Secret's data, plus user:password for a REST
// server, which a basic auth header carries.
func credentials(data map[string][]byte) []string {
	var out []string
	for k, v := range data {
		if scrub.SecretKey(k) {
			out = append(out, string(v))
		}
	}
	if u, ok := data["REST_SERVER_USERNAME"]; ok {
		out = append(out, string(u)+":"+string(data["REST_SERVER_PASSWORD"]))
	}
	return out
}

// secretNames lists the Secrets a pod spec uses, each once, in order.
func secretNames(spec *corev1.PodSpec) []string {
	seen := map[string]bool{}
	add := func(name string) {
		if name != "" {
			seen[name] = true
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			add(v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(src.Secret.Name)
				}
			}
		}
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				add(e.SecretRef.Name)
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Scrub hides secrets and row data in what the outcome quotes of the Job's output.
func (o *Outcome) Scrub(s *scrub.Scrubber) {
	o.Error = s.String(o.Error)
	if o.Result != nil {
		o.Result.Scrub(s)
	}
	for i := range o.Hooks {
		o.Hooks[i].Scrub(s)
	}
}
