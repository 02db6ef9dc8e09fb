// Package repojob is what the reconcilers of the repository's own Jobs share — the wipe
// (package repository), the snapshots Job (package snapshot) and a RepositoryOperation's Job
// (package repositoryoperation): one Job template and one way to start it. Such a Job runs one
// `hoard` command on the Repository's storage. It mounts only the Repository's storage Secret
// (and a local backend's volume), has no API access, makes one attempt, and is labelled as a
// user of the repository (location.LabelKey), so that the repository queue sees it.
package repojob

import (
	"context"
	"fmt"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/podsecurity"
	"github.com/hoard-operator/hoard/internal/repoqueue"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/session"
)

// BackendFlags are the flags of a `hoard` repository command for a backend: the same names
// the upstream backup Functions used (--provider, --bucket, --endpoint, --region, --path,
// --max-connections). Only locations, never credentials: those come from the mounted Secret.
func BackendFlags(b stashv1alpha1.Backend) ([]string, error) {
	info, err := location.Backend(&b)
	if err != nil {
		return nil, err
	}
	flags := []string{"--provider=" + info.Provider, "--bucket=" + info.Bucket}
	for _, f := range []struct{ name, value string }{{"endpoint", info.Endpoint}, {"region", info.Region}, {"path", info.Prefix}} {
		if f.value != "" {
			flags = append(flags, "--"+f.name+"="+f.value)
		}
	}
	if info.MaxConnections > 0 {
		flags = append(flags, "--max-connections="+strconv.FormatInt(info.MaxConnections, 10))
	}
	return append(flags, "--secret-dir="+result.SecretDir), nil
}

// Spec is one such Job.
type Spec struct {
	// Repository is the repository the Job works on; its storage Secret must be named.
	Repository *stashv1alpha1.Repository
	// Name and Namespace are the Job's.
	Name, Namespace string
	// Component is the Job's app.kubernetes.io/component label; Container its container's name.
	Component, Container string
	Image                string
	// LocationKey labels the Job and its pod as users of the repository (location.LabelKey).
	LocationKey string
	// Command is the `hoard` command and the flags that come before the backend's; Flags
	// come after them.
	Command, Flags []string
	// Volumes and Mounts are the command's own, next to the storage Secret and /tmp.
	Volumes []corev1.Volume
	Mounts  []corev1.VolumeMount
	// Annotations are the Job's.
	Annotations map[string]string
	// TTL, when set, removes the finished Job (ttlSecondsAfterFinished): for Jobs that
	// nothing else cleans up.
	TTL time.Duration
	// TerminationMessagePolicy is the container's, where the command's outcome goes.
	TerminationMessagePolicy corev1.TerminationMessagePolicy
}

// Render is the Job of s; a pure function of it. The command gets the backend's flags and,
// when the Repository is its data's sole writer, --sole-writer: the Job starts only when no
// other Hoard Job uses the repository (package repoqueue). The caller checks that
// spec.backend.storageSecretName is set, with its own words for what needs it.
func Render(s Spec) (*batchv1.Job, error) {
	b := s.Repository.Spec.Backend
	// The Job mounts a local backend's volume like a session's Job does.
	if err := location.CheckLocalBackend(&b); err != nil {
		return nil, err
	}
	backend, err := BackendFlags(b)
	if err != nil {
		return nil, err
	}
	args := append(append(append([]string(nil), s.Command...), backend...), s.Flags...)
	if location.SoleWriter(s.Repository) {
		args = append(args, "--sole-writer")
	}
	labels := names.Labels(s.Component)
	labels[location.LabelKey] = s.LocationKey
	volumes := append([]corev1.Volume{
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: b.StorageSecretName, DefaultMode: ptr.To[int32](0o400),
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}, s.Volumes...)
	mounts := append([]corev1.VolumeMount{
		{Name: "secret", MountPath: result.SecretDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}, s.Mounts...)
	if b.Local != nil {
		volumes = append(volumes, corev1.Volume{Name: "repository", VolumeSource: b.Local.VolumeSource})
		mounts = append(mounts, corev1.VolumeMount{Name: "repository", MountPath: b.Local.MountPath, SubPath: b.Local.SubPath})
	}
	var ttl *int32
	if s.TTL > 0 {
		ttl = ptr.To(int32(s.TTL / time.Second))
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: labels, Annotations: s.Annotations},
		Spec: batchv1.JobSpec{
			// One attempt: the outcome is reported, and a second blind attempt would usually
			// fail the same way. Each kind says how to retry.
			BackoffLimit:            ptr.To[int32](0),
			TTLSecondsAfterFinished: ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              podsecurity.Pod(),
					Volumes:                      volumes,
					Containers: []corev1.Container{{
						Name:                     s.Container,
						Image:                    s.Image,
						ImagePullPolicy:          corev1.PullIfNotPresent,
						Args:                     args,
						Env:                      []corev1.EnvVar{{Name: "TMPDIR", Value: "/tmp"}},
						VolumeMounts:             mounts,
						SecurityContext:          podsecurity.Container(true),
						TerminationMessagePolicy: s.TerminationMessagePolicy,
					}},
				},
			},
		},
	}, nil
}

// Env is what the reconcilers of these Jobs are given.
type Env struct {
	client.Client
	// APIReader confirms objects around the cache: an existing Job's owner.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  record.EventRecorder
	// Image is the operator image the Jobs run `hoard` with.
	Image string
	// Queue lets a Job start only when no other Hoard Job uses the repository.
	Queue *repoqueue.Queue
	// StartGrace is how long a Job's container may fail to start before the Job is stopped;
	// zero means session.DefaultStartGrace.
	StartGrace time.Duration
}

// NewEnv is the Env of the controller named name.
func NewEnv(mgr ctrl.Manager, name, image string, queue *repoqueue.Queue) Env {
	return Env{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    mgr.GetScheme(),
		Recorder:  event.RecorderFor(mgr, name),
		Image:     image,
		Queue:     queue,
	}
}

// Start takes the Job's place in line for its repository and creates it, controlled by the
// entrant's object, when the repository is free; holder says who uses it otherwise. A Job of
// that name the object does not control is a *session.ForeignObjectError.
func (e *Env) Start(ctx context.Context, entrant repoqueue.Entrant, job *batchv1.Job) (*repoqueue.Holder, error) {
	return e.StartAfter(ctx, entrant, job, nil)
}

// StartAfter is Start with before, when set, run once the repository is free and before the
// Job is created (the snapshots Job's known-ids Secret, which the Job mounts).
func (e *Env) StartAfter(ctx context.Context, entrant repoqueue.Entrant, job *batchv1.Job, before func(context.Context) error) (*repoqueue.Holder, error) {
	entrant.JobName = job.Name
	return e.Queue.Enter(ctx, entrant, func(ctx context.Context) error {
		if before != nil {
			if err := before(ctx); err != nil {
				return err
			}
		}
		return session.CreateJob(ctx, e.Client, e.APIReader, e.Scheme, entrant.Object, job, nil, nil)
	})
}

// Stuck says why a running Job's container cannot start, once it could not for longer than
// the start grace, and deletes the Job then: nothing changes by waiting, and the Job holds
// the repository, so every backup at its location would wait for it. These Jobs have no
// deadline of their own (a prune may take hours). "" while it may still start; recheck is
// when to look again, since a pod's waiting reason does not change the Job.
func (e *Env) Stuck(ctx context.Context, job *batchv1.Job, now time.Time) (why string, recheck time.Duration, err error) {
	grace := e.StartGrace
	if grace <= 0 {
		grace = session.DefaultStartGrace
	}
	if why, err = session.StuckJob(ctx, e.Client, job, now, grace); err != nil || why == "" {
		return "", grace / 2, err
	}
	if err := e.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &job.UID}); client.IgnoreNotFound(err) != nil {
		return "", 0, fmt.Errorf("failed to delete Job %s/%s, which cannot start: %w", job.Namespace, job.Name, err)
	}
	return fmt.Sprintf("%s; Job %s was stopped", why, job.Name), 0, nil
}

// PatchStatus patches obj's status (a merge patch from base) when changed; an object deleted
// meanwhile is no error. kind names it in the error.
func (e *Env) PatchStatus(ctx context.Context, kind string, base, obj client.Object, changed bool) error {
	if !changed {
		return nil
	}
	if err := e.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to update status of %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
