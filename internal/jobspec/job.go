package jobspec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/podsecurity"
	"github.com/hoard-operator/hoard/internal/result"
)

// Kind is backup or restore.
type Kind string

const (
	KindBackup  Kind = "backup"
	KindRestore Kind = "restore"
)

// Paths and names every Job uses.
const (
	TmpVolumeName          = "tmp-dir"
	TmpMountPath           = result.ScratchDir
	LocalBackendVolumeName = "stash-local-backend"
	TargetVolumeName       = "hoard-target"
	// TargetMountPath holds the resolved connection of an AppBinding target (host, port,
	// username, password, ca.crt), so that the Job needs no Kubernetes API access.
	TargetMountPath   = result.TargetDir
	InterimVolumeName = "hoard-interim"
	InterimMountPath  = "/hoard-interim"
	InterimDataDir    = InterimMountPath + "/data"
)

// Target is what the session backs up or restores into.
type Target struct {
	Alias        string
	Ref          v1beta1.TargetRef
	Paths        []string
	VolumeMounts []corev1.VolumeMount
	Args         []string
}

// Invoker is what asked for the session.
type Invoker struct {
	Kind string
	Name string
}

// Input is everything Build needs; the caller fetched it from the cluster.
type Input struct {
	Kind        Kind
	Namespace   string
	SessionName string
	Invoker     Invoker

	Task      *v1beta1.Task
	Functions map[string]*v1beta1.Function

	Repository *v1alpha1.Repository
	Target     Target
	// UserParams come from the invoker's spec.task.params or the AppBinding's addon task.
	UserParams []v1beta1.Param

	RetentionPolicy v1alpha1.RetentionPolicy
	// ScheduleInterval is the longest gap between two fires of the invoker's schedule
	// (SCHEDULE_INTERVAL), 0 when it has none: binary log shipping needs the server to keep
	// its logs longer.
	ScheduleInterval time.Duration

	RestoreRule     *v1beta1.Rule
	RuntimeSettings v1beta1.RuntimeSettings
	TempDir         v1beta1.EmptyDirSettings
	InterimVolume   *v1beta1.PersistentVolumeClaim

	// TargetSecretName is a Secret holding the target's resolved connection, mounted at
	// TargetMountPath in every container; empty for targets that are not AppBindings.
	TargetSecretName string
	// StorageSecretCopy, when set, is the per-session copy of the storage Secret that the
	// Job mounts instead of the Repository's own: a Repository in another namespace, whose
	// Secret a pod of this namespace cannot mount.
	StorageSecretCopy string
	PushgatewayURL    string
	// ActiveDeadlineSeconds bounds the Job; 0 leaves it unbounded.
	ActiveDeadlineSeconds int64

	// LocationKey is the repository location's key (location.Location.Key), put on the Job
	// and its pod so that the operator sees which Jobs use a repository.
	LocationKey string
	// SoleWriter tells the Job that no other Hoard Job uses the repository while it runs
	// (REPOSITORY_SOLE_WRITER), so any restic lock it finds is stale.
	SoleWriter bool
	// Scratch, for a verification's restore, is the server the Job restores into.
	Scratch *ScratchServer
}

// StorageSecretName is the Secret the Job mounts as the storage Secret.
func (in *Input) StorageSecretName() string {
	if in.StorageSecretCopy != "" {
		return in.StorageSecretCopy
	}
	return in.Repository.Spec.Backend.StorageSecretName
}

// JobName is the Job of a session: stash-<kind>-<session>, shortened with a hash when the
// result would not fit a label value (the Job controller labels pods with it).
func JobName(kind Kind, session string) string {
	return names.LabelValue("stash-" + string(kind) + "-" + session)
}

// ContainerName is the upstream naming: the Function name with dots as dashes, then the step.
func ContainerName(function string, step int) string {
	return strings.ReplaceAll(function, ".", "-") + "-" + strconv.Itoa(step)
}

// Variables returns the placeholder values for one Task step: the step's params, overridden
// by the user's params, overridden by the operator's implicit variables.
func Variables(in *Input, backend location.BackendInfo, step v1beta1.FunctionRef) map[string]string {
	v := map[string]string{}
	for _, p := range step.Params {
		v[p.Name] = p.Value
	}
	if len(in.Target.Args) > 0 {
		v["args"] = strings.Join(in.Target.Args, " ")
	}
	for _, p := range in.UserParams {
		v[p.Name] = p.Value
	}
	for name, value := range implicitVariables(in, backend) {
		v[name] = value
	}
	return v
}

// Build renders the Job for a session. It fails, naming the culprit, when a Function is
// missing or a placeholder cannot be resolved: it never returns a half-substituted Job.
func Build(in *Input) (*batchv1.Job, error) {
	if in.Task == nil || len(in.Task.Spec.Steps) == 0 {
		return nil, fmt.Errorf("task has no steps")
	}
	backend, err := checkedBackend(&in.Repository.Spec.Backend)
	if err != nil {
		return nil, fmt.Errorf("Repository %s: %w", in.Repository.Name, err)
	}

	var containers []corev1.Container
	for i, step := range in.Task.Spec.Steps {
		fn, ok := in.Functions[step.Name]
		if !ok || fn == nil {
			return nil, fmt.Errorf("Task %q step %d: Function %q not found", in.Task.Name, i, step.Name)
		}
		c, err := container(in, fn, i, Variables(in, backend, step))
		if err != nil {
			return nil, err
		}
		containers = append(containers, c)
	}
	// Task volumes may use any step's params (the first step that sets a param wins).
	var all v1beta1.FunctionRef
	for i := len(in.Task.Spec.Steps) - 1; i >= 0; i-- {
		all.Params = append(all.Params, in.Task.Spec.Steps[i].Params...)
	}
	volVars := Variables(in, backend, all)
	volumes := make([]corev1.Volume, 0, len(in.Task.Spec.Volumes)+4)
	for _, v := range in.Task.Spec.Volumes {
		vol := v.DeepCopy()
		if err := substituteObject(vol, volVars, fmt.Sprintf("Task %q volume %q", in.Task.Name, v.Name)); err != nil {
			return nil, err
		}
		volumes = append(volumes, *vol)
	}
	volumes = append(volumes, implicitVolumes(in)...)
	for i, step := range in.Task.Spec.Steps {
		if IsUpdateStatus(in.Functions[step.Name]) {
			withoutSecrets(&containers[i], volumes)
		}
	}

	pod := corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext:              podsecurity.Pod(),
		InitContainers:               containers[:len(containers)-1],
		Containers:                   containers[len(containers)-1:],
		Volumes:                      volumes,
	}
	if len(pod.InitContainers) == 0 {
		pod.InitContainers = nil
	}
	if err := addScratchServer(in, &pod); err != nil {
		return nil, err
	}
	applyPodSettings(&pod, in.RuntimeSettings.Pod)

	labels := map[string]string{
		names.LabelManagedBy:     names.ManagedByHoard,
		names.LabelComponent:     string(in.Kind),
		names.LabelSession:       names.LabelValue(in.SessionName),
		v1beta1.LabelInvokerType: in.Invoker.Kind,
		v1beta1.LabelInvokerName: names.LabelValue(in.Invoker.Name),
	}
	if in.LocationKey != "" {
		labels[location.LabelKey] = in.LocationKey
	}
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      JobName(in.Kind, in.SessionName),
			Namespace: in.Namespace,
			Labels:    labels,
		},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(int32(0)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       pod,
			},
		},
	}
	if in.ActiveDeadlineSeconds > 0 {
		job.Spec.ActiveDeadlineSeconds = ptr.To(in.ActiveDeadlineSeconds)
	}
	return job, nil
}

func container(in *Input, fn *v1beta1.Function, step int, vars map[string]string) (corev1.Container, error) {
	spec := fn.Spec.DeepCopy()
	spec.RuntimeSettings = nil
	if err := substituteObject(spec, vars, fmt.Sprintf("Function %q (step %d)", fn.Name, step)); err != nil {
		return corev1.Container{}, err
	}
	c := corev1.Container{
		Name:                     ContainerName(fn.Name, step),
		Image:                    spec.Image,
		Command:                  spec.Command,
		Args:                     spec.Args,
		WorkingDir:               spec.WorkingDir,
		Ports:                    spec.Ports,
		VolumeMounts:             spec.VolumeMounts,
		VolumeDevices:            spec.VolumeDevices,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		// The addon writes only to /tmp, but the restic and MySQL clients may look for files
		// in their home directory: the root filesystem stays writable.
		SecurityContext: podsecurity.Container(false),
	}
	if IsUpdateStatus(fn) {
		// It only copies the previous step's result from /tmp: no repository, no target.
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: TmpVolumeName, MountPath: TmpMountPath})
	} else {
		c.VolumeMounts = append(c.VolumeMounts, implicitMounts(in)...)
	}
	main := step == len(in.Task.Spec.Steps)-1
	// The Function's own settings first, the invoker's on top.
	applyContainerSettings(&c, fn.Spec.RuntimeSettings, main)
	applyContainerSettings(&c, in.RuntimeSettings.Container, main)
	return c, nil
}

// UpdateStatusFunction is the upstream name of the last step of every Task: the operator's
// own command that publishes the previous step's result.
const UpdateStatusFunction = "update-status"

// IsUpdateStatus tells whether fn is the update-status step, by upstream's Function name or by
// its command (a renamed copy).
func IsUpdateStatus(fn *v1beta1.Function) bool {
	return fn != nil && (fn.Name == UpdateStatusFunction || (len(fn.Spec.Args) > 0 && fn.Spec.Args[0] == UpdateStatusFunction))
}

// withoutSecrets takes from c every mount of a volume that holds a Secret (secret, or projected
// with a secret or token source) and every variable read from a Secret. The update-status step
// reads only a file the previous step wrote; upstream's Functions still mount the storage
// Secret into it, and the user's runtimeSettings apply to every container.
func withoutSecrets(c *corev1.Container, volumes []corev1.Volume) {
	secret := map[string]bool{}
	for _, v := range volumes {
		if holdsSecret(&v.VolumeSource) {
			secret[v.Name] = true
		}
	}
	var mounts []corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if !secret[m.Name] {
			mounts = append(mounts, m)
		}
	}
	c.VolumeMounts = mounts
	var env []corev1.EnvVar
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			env = append(env, e)
		}
	}
	c.Env = env
	var envFrom []corev1.EnvFromSource
	for _, e := range c.EnvFrom {
		if e.SecretRef == nil {
			envFrom = append(envFrom, e)
		}
	}
	c.EnvFrom = envFrom
}

func holdsSecret(v *corev1.VolumeSource) bool {
	if v.Secret != nil {
		return true
	}
	if v.Projected != nil {
		for _, p := range v.Projected.Sources {
			if p.Secret != nil || p.ServiceAccountToken != nil {
				return true
			}
		}
	}
	return false
}

func implicitVolumes(in *Input) []corev1.Volume {
	tmp := corev1.Volume{Name: TmpVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium:    in.TempDir.Medium,
		SizeLimit: in.TempDir.SizeLimit,
	}}}
	vols := []corev1.Volume{tmp}
	if l := in.Repository.Spec.Backend.Local; l != nil {
		vols = append(vols, corev1.Volume{Name: LocalBackendVolumeName, VolumeSource: *l.VolumeSource.DeepCopy()})
	}
	if in.TargetSecretName != "" {
		vols = append(vols, corev1.Volume{Name: TargetVolumeName, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  in.TargetSecretName,
			DefaultMode: ptr.To(int32(0o440)),
		}}})
	}
	if t := in.InterimVolume; t != nil {
		vols = append(vols, corev1.Volume{Name: InterimVolumeName, VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
				ObjectMeta: metav1.ObjectMeta{Labels: t.Labels, Annotations: t.Annotations},
				Spec:       *t.Spec.DeepCopy(),
			},
		}}})
	}
	return vols
}

func implicitMounts(in *Input) []corev1.VolumeMount {
	mounts := []corev1.VolumeMount{{Name: TmpVolumeName, MountPath: TmpMountPath}}
	if l := in.Repository.Spec.Backend.Local; l != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: LocalBackendVolumeName, MountPath: l.MountPath, SubPath: l.SubPath})
	}
	if in.TargetSecretName != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: TargetVolumeName, MountPath: TargetMountPath, ReadOnly: true})
	}
	if in.InterimVolume != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: InterimVolumeName, MountPath: InterimMountPath})
	}
	return mounts
}

func applyContainerSettings(c *corev1.Container, s *v1beta1.ContainerRuntimeSettings, main bool) {
	if s == nil {
		return
	}
	if len(s.Resources.Limits) > 0 || len(s.Resources.Requests) > 0 {
		c.Resources = *s.Resources.DeepCopy()
	}
	// Kubernetes refuses probes and lifecycle hooks on init containers.
	if main {
		if s.LivenessProbe != nil {
			c.LivenessProbe = s.LivenessProbe.DeepCopy()
		}
		if s.ReadinessProbe != nil {
			c.ReadinessProbe = s.ReadinessProbe.DeepCopy()
		}
		if s.Lifecycle != nil {
			c.Lifecycle = s.Lifecycle.DeepCopy()
		}
	}
	if s.SecurityContext != nil {
		c.SecurityContext = s.SecurityContext.DeepCopy()
	}
	c.EnvFrom = append(c.EnvFrom, s.EnvFrom...)
	c.Env = append(c.Env, s.Env...)
	// The addon applies these to its own children (nice/ionice need no privileges to lower
	// priority), since the Job cannot wrap an image's entrypoint it does not know.
	if s.Nice != nil && s.Nice.Adjustment != nil {
		c.Env = setEnv(c.Env, "NICE_ADJUSTMENT", strconv.Itoa(int(*s.Nice.Adjustment)))
	}
	if s.IONice != nil && s.IONice.Class != nil {
		c.Env = setEnv(c.Env, "IONICE_CLASS", strconv.Itoa(int(*s.IONice.Class)))
	}
	if s.IONice != nil && s.IONice.ClassData != nil {
		c.Env = setEnv(c.Env, "IONICE_CLASS_DATA", strconv.Itoa(int(*s.IONice.ClassData)))
	}
}

func setEnv(env []corev1.EnvVar, name, value string) []corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			env[i].Value = value
			env[i].ValueFrom = nil
			return env
		}
	}
	return append(env, corev1.EnvVar{Name: name, Value: value})
}

func applyPodSettings(p *corev1.PodSpec, s *v1beta1.PodRuntimeSettings) {
	if s == nil {
		return
	}
	if len(s.NodeSelector) > 0 {
		p.NodeSelector = s.NodeSelector
	}
	if s.ServiceAccountName != "" {
		p.ServiceAccountName = s.ServiceAccountName
	}
	if s.AutomountServiceAccountToken != nil {
		p.AutomountServiceAccountToken = s.AutomountServiceAccountToken
	}
	if s.NodeName != "" {
		p.NodeName = s.NodeName
	}
	if s.SecurityContext != nil {
		p.SecurityContext = s.SecurityContext.DeepCopy()
	}
	p.ImagePullSecrets = s.ImagePullSecrets
	p.Affinity = s.Affinity
	p.SchedulerName = s.SchedulerName
	p.Tolerations = s.Tolerations
	p.PriorityClassName = s.PriorityClassName
	p.Priority = s.Priority
	p.ReadinessGates = s.ReadinessGates
	p.RuntimeClassName = s.RuntimeClassName
	p.EnableServiceLinks = s.EnableServiceLinks
	p.TopologySpreadConstraints = s.TopologySpreadConstraints
}
