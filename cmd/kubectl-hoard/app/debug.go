package app

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/names"
)

func newDebugCommand(e *env) *cobra.Command {
	var tail int64
	cmd := &cobra.Command{
		Use:   "debug <kind>/<name>",
		Short: "One report on an object: itself, its conditions, events, Jobs, pods and their last log lines",
		Long: "debug prints what you would otherwise gather with get, describe, get events and logs: the object,\n" +
			"its conditions, its events and those of its Jobs and pods, each Job's and pod's state, and the last\n" +
			"--tail lines of every container's log. <kind> is any kind kubectl knows (backupsession, restoresession,\n" +
			"backupconfiguration, repository, job, pod...), short names included.",
		Example: "  kubectl hoard debug backupsession/sample-mysql-backup-1795502040 -n demo\n  kubectl hoard debug bc sample-mysql-backup -n demo",
		Args: func(cmd *cobra.Command, args []string) error {
			if _, _, err := parseObjectArg(args); err != nil {
				return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, _ := parseObjectArg(args)
			return e.debug(cmd.Context(), kind, name, tail)
		},
	}
	cmd.Flags().Int64Var(&tail, "tail", 20, "log lines to print per container")
	return cmd
}

// parseObjectArg takes "kind/name" or "kind name".
func parseObjectArg(args []string) (kind, name string, err error) {
	switch len(args) {
	case 1:
		if k, n, ok := strings.Cut(args[0], "/"); ok && k != "" && n != "" && !strings.Contains(n, "/") {
			return k, n, nil
		}
	case 2:
		if args[0] != "" && args[1] != "" && !strings.Contains(args[0], "/") {
			return args[0], args[1], nil
		}
	}
	return "", "", fmt.Errorf("name the object as <kind>/<name> or <kind> <name>, e.g. backupsession/nightly-1795502040, got %q", strings.Join(args, " "))
}

func (e *env) debug(ctx context.Context, kind, name string, tail int64) error {
	namespace, err := e.namespace()
	if err != nil {
		return err
	}
	mapper, err := e.flags.ToRESTMapper()
	if err != nil {
		return fmt.Errorf("failed to read the cluster's kinds: %w", err)
	}
	gvr, err := mapper.ResourceFor(schema.ParseGroupResource(kind).WithVersion(""))
	if err != nil {
		return fmt.Errorf("the cluster knows no kind %q: `kubectl api-resources` lists them", kind)
	}
	gvk, err := mapper.KindFor(gvr)
	if err != nil {
		return fmt.Errorf("the cluster knows no kind %q: %w", kind, err)
	}
	dyn, err := e.dynamic()
	if err != nil {
		return err
	}
	obj, err := dyn.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return explain(err, gvk.Kind, gvr.Resource, namespace, name, "get")
	}
	cs, err := e.clientset()
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	d := &debugReport{ctx: ctx, cs: cs, c: c, out: e.out, namespace: namespace, tail: tail}
	return d.write(obj)
}

// debugReport writes the report section by section. A part the user may not read (events,
// logs) is said so in its place; the rest of the report still comes.
type debugReport struct {
	ctx       context.Context
	cs        kubernetes.Interface
	c         client.Client
	out       io.Writer
	namespace string
	tail      int64
	err       error
}

func (d *debugReport) printf(format string, args ...any) {
	if d.err == nil {
		_, d.err = fmt.Fprintf(d.out, format, args...)
	}
}

func (d *debugReport) section(title string) { d.printf("\n=== %s\n", title) }

func (d *debugReport) write(obj *unstructured.Unstructured) error {
	kind, name := obj.GetKind(), obj.GetName()
	d.printf("=== %s %s/%s\n", kind, d.namespace, name)
	o := obj.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
	if b, err := yaml.Marshal(o.Object); err == nil {
		d.printf("%s", b)
	}

	d.section("Conditions")
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	if len(conds) == 0 {
		d.printf("(none)\n")
	} else {
		rows := make([][]string, 0, len(conds))
		for _, c := range conds {
			m, _ := c.(map[string]any)
			s := func(k string) string { v, _ := m[k].(string); return orDash(v) }
			rows = append(rows, []string{s("type"), s("status"), s("reason"), s("lastTransitionTime"), s("message")})
		}
		if d.err == nil {
			d.err = printTable(d.out, []string{"TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"}, rows)
		}
	}

	jobs := d.jobsOf(obj)
	uids := []types.UID{obj.GetUID()}
	for _, j := range jobs {
		uids = append(uids, j.UID)
	}
	pods := map[types.UID][]corev1.Pod{}
	for _, j := range jobs {
		pods[j.UID] = d.podsOf(&j)
		for _, p := range pods[j.UID] {
			uids = append(uids, p.UID)
		}
	}
	d.events(uids)

	d.section(fmt.Sprintf("Jobs (%d)", len(jobs)))
	if len(jobs) == 0 {
		d.printf("(none: the operator has not started one, or it was cleaned up)\n")
	}
	for i := range jobs {
		d.job(&jobs[i], pods[jobs[i].UID])
	}
	return d.err
}

// jobsOf finds the Jobs behind obj: those it controls; for a BackupConfiguration those of its
// newest BackupSession; for a Job, itself.
func (d *debugReport) jobsOf(obj *unstructured.Unstructured) []batchv1.Job {
	if obj.GetKind() == "Job" {
		j, err := d.cs.BatchV1().Jobs(d.namespace).Get(d.ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			d.printf("(could not read Job %s: %v)\n", obj.GetName(), err)
			return nil
		}
		return []batchv1.Job{*j}
	}
	owner := obj.GetUID()
	if obj.GetKind() == "BackupConfiguration" {
		owner = d.newestSession(obj.GetName())
		if owner == "" {
			return nil
		}
	}
	list, err := d.cs.BatchV1().Jobs(d.namespace).List(d.ctx, metav1.ListOptions{})
	if err != nil {
		d.section("Jobs")
		d.printf("(could not list Jobs: %s)\n", oneLine(err.Error()))
		return nil
	}
	var jobs []batchv1.Job
	for _, j := range list.Items {
		if ref := metav1.GetControllerOf(&j); ref != nil && ref.UID == owner {
			jobs = append(jobs, j)
		}
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].CreationTimestamp.Before(&jobs[b].CreationTimestamp) })
	return jobs
}

// newestSession is the UID of a configuration's newest BackupSession, "" when it has none.
func (d *debugReport) newestSession(bc string) types.UID {
	var list stashv1beta1.BackupSessionList
	err := d.c.List(d.ctx, &list, client.InNamespace(d.namespace), client.MatchingLabels{stashv1beta1.LabelInvokerName: names.LabelValue(bc)})
	if err != nil {
		d.printf("(could not list the BackupSessions of %s: %s)\n", bc, oneLine(err.Error()))
		return ""
	}
	var newest *stashv1beta1.BackupSession
	for i := range list.Items {
		if s := &list.Items[i]; newest == nil || newest.CreationTimestamp.Before(&s.CreationTimestamp) {
			newest = s
		}
	}
	if newest == nil {
		return ""
	}
	d.printf("\n(newest BackupSession: %s, %s)\n", newest.Name, orDash(string(newest.Status.Phase)))
	return newest.UID
}

func (d *debugReport) podsOf(j *batchv1.Job) []corev1.Pod {
	list, err := d.cs.CoreV1().Pods(d.namespace).List(d.ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/controller-uid=" + string(j.UID)})
	if err != nil {
		return nil
	}
	sort.Slice(list.Items, func(a, b int) bool {
		return list.Items[a].CreationTimestamp.Before(&list.Items[b].CreationTimestamp)
	})
	return list.Items
}

// events prints the events of the object, its Jobs and their pods, oldest first.
func (d *debugReport) events(uids []types.UID) {
	d.section("Events")
	var all []corev1.Event
	for _, uid := range uids {
		list, err := d.cs.CoreV1().Events(d.namespace).List(d.ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(uid)})
		if err != nil {
			if apierrors.IsForbidden(err) {
				d.printf("(you may not list events in namespace %s)\n", d.namespace)
				return
			}
			d.printf("(could not list events: %s)\n", oneLine(err.Error()))
			return
		}
		all = append(all, list.Items...)
	}
	if len(all) == 0 {
		d.printf("(none)\n")
		return
	}
	sort.SliceStable(all, func(a, b int) bool { return eventTime(&all[a]).Before(eventTime(&all[b])) })
	rows := make([][]string, 0, len(all))
	for _, ev := range all {
		rows = append(rows, []string{eventTime(&ev).UTC().Format(time.RFC3339), ev.Type, ev.Reason,
			ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name, oneLine(ev.Message)})
	}
	if d.err == nil {
		d.err = printTable(d.out, []string{"TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"}, rows)
	}
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

// job prints a Job's state, each pod's and containers' state and the last log lines.
func (d *debugReport) job(j *batchv1.Job, pods []corev1.Pod) {
	d.printf("\n--- Job %s: %s (active %d, succeeded %d, failed %d)\n", j.Name, jobState(j), j.Status.Active, j.Status.Succeeded, j.Status.Failed)
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			d.printf("    %s: %s %s\n", c.Type, c.Reason, oneLine(c.Message))
		}
	}
	if len(pods) == 0 {
		d.printf("    (no pods)\n")
	}
	for i := range pods {
		p := &pods[i]
		d.printf("  Pod %s: %s%s\n", p.Name, p.Status.Phase, prefixed(" on ", p.Spec.NodeName))
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				d.printf("    %s=%s: %s\n", c.Type, c.Status, oneLine(c.Message))
			}
		}
		statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
		for _, cs := range statuses {
			d.printf("    container %s: %s (restarts %d)\n", cs.Name, containerState(cs.State), cs.RestartCount)
			d.logs(p.Name, cs.Name)
		}
	}
}

func (d *debugReport) logs(pod, container string) {
	b, err := d.cs.CoreV1().Pods(d.namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, TailLines: ptr.To(d.tail)}).DoRaw(d.ctx)
	if err != nil {
		d.printf("      (no log: %s)\n", oneLine(err.Error()))
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		d.printf("      (empty log)\n")
		return
	}
	d.printf("      last %d log lines:\n", len(lines))
	for _, l := range lines {
		d.printf("      | %s\n", l)
	}
}

func jobState(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return string(c.Type)
		}
	}
	if !j.DeletionTimestamp.IsZero() {
		return "Terminating"
	}
	return "Running"
}

func containerState(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running since " + s.Running.StartedAt.UTC().Format(time.RFC3339)
	case s.Waiting != nil:
		return "waiting: " + s.Waiting.Reason + prefixed(": ", oneLine(s.Waiting.Message))
	case s.Terminated != nil:
		t := s.Terminated
		return fmt.Sprintf("terminated: %s, exit code %d%s", t.Reason, t.ExitCode, prefixed(": ", oneLine(t.Message)))
	}
	return "unknown"
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
