//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// The suites' credentials and the recorder that TestSecretsNotLeaked (zz_secrets_test.go)
// searches: every log (current and previous containers), event, status of a Stash or Hoard
// object and termination message in the suites' namespaces and the operator's, from the
// start of the test binary to its end.

// secrets are the credentials the manifests use (@DB_PASSWORD@ and friends in testdata/),
// new on every run. They are random and long, so that one found anywhere is a leak and not
// a coincidence. The REST server runs without authentication and ignores the credentials;
// the Jobs still put them into restic's URL, so that that path is searched too.
var secrets = struct {
	DB, WrongDB, Restic, RestUser, Rest string
}{DB: randomSecret(), WrongDB: randomSecret(), Restic: randomSecret(), RestUser: "hoard", Rest: randomSecret()}

// randomSecret is 20 random letters and digits with a '+' and a '/', which URL escaping and
// base64 change.
func randomSecret() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 20)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b[:7]) + "+" + string(b[7:14]) + "/" + string(b[14:])
}

// secretPlaceholders fill the manifests' credential placeholders (see manifest).
func secretPlaceholders() []string {
	return []string{"DB_PASSWORD", secrets.DB, "WRONG_DB_PASSWORD", secrets.WrongDB, "RESTIC_PASSWORD", secrets.Restic,
		"REST_USERNAME", secrets.RestUser, "REST_PASSWORD", secrets.Rest}
}

// recorded is what the recorder keeps, shared by the test binary's tests.
var recorded = &recorder{texts: map[string]string{}, fetched: map[string]bool{}}

func TestMain(m *testing.M) {
	ctx, cancel := context.WithCancel(context.Background())
	if err := recorded.start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot record the cluster's logs, events and statuses:", err)
		os.Exit(1)
	}
	code := m.Run()
	cancel()
	os.Exit(code)
}

// recordedNamespace tells whether ns is one the suites use (or the operator's).
func recordedNamespace(ns string) bool {
	return ns == operatorNamespace || ns == namespace || strings.HasPrefix(ns, "fault")
}

// stashResources are the kinds whose status is recorded.
var stashResources = []schema.GroupVersionResource{
	{Group: "stash.appscode.com", Version: "v1beta1", Resource: "backupconfigurations"},
	{Group: "stash.appscode.com", Version: "v1beta1", Resource: "backupsessions"},
	{Group: "stash.appscode.com", Version: "v1beta1", Resource: "restoresessions"},
	{Group: "stash.appscode.com", Version: "v1alpha1", Resource: "repositories"},
	{Group: "addons.hoard.io", Version: "v1alpha1", Resource: "mysqladdons"},
}

// recorder watches pods, events and Stash objects. A container's log is read when it
// terminates and when its pod is being deleted (a namespace deleted at a case's end, a pruned
// session's Job, the operator pod case 3 deletes), so that logs of pods that are gone by
// the end are searched too; collect reads whatever is still there.
type recorder struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface

	mu sync.Mutex
	// texts maps where something was seen ("log ns/pod/container#id", "event …",
	// "status …", "termination message …") to what.
	texts map[string]string
	// fetched marks the log reads started, per container id and occasion.
	fetched map[string]bool
	// failedReads counts log reads that failed (the pod was gone already).
	failedReads int
	pending     sync.WaitGroup
}

func (r *recorder) start(ctx context.Context) error {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("failed to load the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	if r.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("failed to create a client: %w", err)
	}
	if r.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return fmt.Errorf("failed to create a client: %w", err)
	}
	f := informers.NewSharedInformerFactory(r.cs, 0)
	podInformer := f.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.pod(ctx, o) },
		UpdateFunc: func(_, o any) { r.pod(ctx, o) },
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			r.pod(ctx, o)
		},
	}); err != nil {
		return fmt.Errorf("failed to watch pods: %w", err)
	}
	eventInformer := f.Core().V1().Events().Informer()
	if _, err := eventInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.event(o) },
		UpdateFunc: func(_, o any) { r.event(o) },
	}); err != nil {
		return fmt.Errorf("failed to watch events: %w", err)
	}
	df := dynamicinformer.NewDynamicSharedInformerFactory(r.dyn, 0)
	synced := []cache.InformerSynced{podInformer.HasSynced, eventInformer.HasSynced}
	for _, gvr := range stashResources {
		inf := df.ForResource(gvr).Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { r.status(gvr.Resource, o) },
			UpdateFunc: func(_, o any) { r.status(gvr.Resource, o) },
		}); err != nil {
			return fmt.Errorf("failed to watch %s: %w", gvr.Resource, err)
		}
		synced = append(synced, inf.HasSynced)
	}
	f.Start(ctx.Done())
	df.Start(ctx.Done())
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), synced...) {
		return fmt.Errorf("the watches did not start within 2 minutes")
	}
	return nil
}

func (r *recorder) put(where, text string) {
	if text == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A log read later holds more of the same container's log.
	if len(text) >= len(r.texts[where]) {
		r.texts[where] = text
	}
}

func (r *recorder) event(o any) {
	e, ok := o.(*corev1.Event)
	if !ok || (!recordedNamespace(e.Namespace) && e.Namespace != "default") {
		return
	}
	r.put(fmt.Sprintf("event %s/%s %s on %s %s: %s", e.Namespace, e.Name, e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.ResourceVersion), e.Message)
}

func (r *recorder) status(resource string, o any) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok || (u.GetNamespace() != "" && !recordedNamespace(u.GetNamespace())) {
		return
	}
	st, found := u.Object["status"]
	if !found {
		return
	}
	b, _ := json.Marshal(st)
	r.put(fmt.Sprintf("status of %s %s/%s (resourceVersion %s)", resource, u.GetNamespace(), u.GetName(), u.GetResourceVersion()), string(b))
}

// pod records the termination messages of the pod's containers and reads their logs when
// they terminate, or while the pod is being deleted.
func (r *recorder) pod(ctx context.Context, o any) {
	p, ok := o.(*corev1.Pod)
	if !ok || !recordedNamespace(p.Namespace) {
		return
	}
	deleting := p.DeletionTimestamp != nil
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if t := cs.State.Terminated; t != nil {
			r.put(fmt.Sprintf("termination message of %s/%s container %s (%s)", p.Namespace, p.Name, cs.Name, t.ContainerID), t.Message)
			r.readLog(ctx, p, cs.Name, t.ContainerID, false, "terminated")
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			r.put(fmt.Sprintf("termination message of %s/%s container %s (%s)", p.Namespace, p.Name, cs.Name, t.ContainerID), t.Message)
			r.readLog(ctx, p, cs.Name, t.ContainerID, true, "terminated")
		}
		if cs.State.Running != nil && deleting {
			r.readLog(ctx, p, cs.Name, cs.ContainerID, false, "deleting")
		}
	}
}

// readLog reads one container's log in the background, once per container and occasion.
func (r *recorder) readLog(ctx context.Context, p *corev1.Pod, container, id string, previous bool, occasion string) {
	if id == "" {
		return
	}
	r.mu.Lock()
	key := id + "/" + occasion
	if r.fetched[key] {
		r.mu.Unlock()
		return
	}
	r.fetched[key] = true
	r.pending.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.pending.Done()
		r.fetchLog(ctx, p.Namespace, p.Name, container, id, previous)
	}()
}

func (r *recorder) fetchLog(ctx context.Context, ns, pod, container, id string, previous bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := r.cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: previous}).DoRaw(ctx)
	if err != nil {
		r.mu.Lock()
		r.failedReads++
		r.mu.Unlock()
		return
	}
	r.put(fmt.Sprintf("log of %s/%s container %s (%s)", ns, pod, container, id), string(b))
}

// collect reads the logs of every container of the pods in ns (every recorded namespace when
// ns is empty), the previous instance's too, and waits for every read. The suites call it
// before they delete a namespace; TestSecretsNotLeaked at the end.
func (r *recorder) collect(ctx context.Context, ns string) {
	var namespaces []string
	if ns != "" {
		namespaces = []string{ns}
	} else {
		list, err := r.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, n := range list.Items {
				if recordedNamespace(n.Name) {
					namespaces = append(namespaces, n.Name)
				}
			}
		}
	}
	var wg sync.WaitGroup
	for _, n := range namespaces {
		pods, err := r.cs.CoreV1().Pods(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
				type read struct {
					id       string
					previous bool
				}
				reads := []read{}
				if cs.ContainerID != "" {
					reads = append(reads, read{cs.ContainerID, false})
				}
				if t := cs.LastTerminationState.Terminated; t != nil {
					reads = append(reads, read{t.ContainerID, true})
				}
				for _, rd := range reads {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r.fetchLog(ctx, p.Namespace, p.Name, cs.Name, rd.id, rd.previous)
					}()
				}
			}
		}
	}
	wg.Wait()
	r.pending.Wait()
}

// snapshot returns what was recorded, by where, in order.
func (r *recorder) snapshot() (wheres []string, texts map[string]string, failedReads int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	texts = make(map[string]string, len(r.texts))
	for k, v := range r.texts {
		texts[k] = v
		wheres = append(wheres, k)
	}
	sort.Strings(wheres)
	return wheres, texts, r.failedReads
}

// collectBeforeDeletion reads the logs of namespace ns before it is deleted.
func collectBeforeDeletion(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	recorded.collect(ctx, ns)
	t.Logf("logs of namespace %s collected for the leak search in %s", ns, time.Since(start).Round(time.Millisecond))
}
