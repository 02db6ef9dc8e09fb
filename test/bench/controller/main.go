// Command controller benchmarks the operator on a real kube-apiserver + etcd: it runs the
// real `hoard run` binary as its own process, creates many BackupConfigurations (each with
// its own Repository), and measures how long until every CronJob exists, the latency from a
// trigger (a new BackupSession) to its Job, the operator's peak resident memory, and the
// hand-off between sessions that share one repository: from one Job's end to the next
// session's Job.
//
//	make bench-controller [BENCH_CONFIGS=1000] [BENCH_TRIGGERS=200] [BENCH_SHARED=50]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/scheme"
	"github.com/hoard-operator/hoard/internal/trigger"
	"github.com/hoard-operator/hoard/test/envtestutil"
)

const ns = "bench"

func main() {
	configs := flag.Int("configs", 1000, "BackupConfigurations to create")
	triggers := flag.Int("triggers", 200, "BackupSessions to trigger, one per configuration")
	shared := flag.Int("shared", 50, "BackupSessions triggered at once on one shared repository, for the hand-off")
	rate := flag.Float64("trigger-rate", 20, "triggers per second (schedule ticks spread over time); 0 fires them all at once")
	hoardBin := flag.String("hoard", filepath.Join(envtestutil.RepoRoot(), "bin", "hoard"), "operator binary")
	flag.Parse()
	if err := run(*configs, *triggers, *shared, *rate, *hoardBin); err != nil {
		fmt.Fprintln(os.Stderr, "bench-controller:", err)
		os.Exit(1)
	}
}

func run(configs, triggers, shared int, rate float64, hoardBin string) error {
	if triggers > configs {
		triggers = configs
	}
	env, cfg, err := envtestutil.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := fixtures(ctx, c); err != nil {
		return err
	}

	kubeconfig, err := writeKubeconfig(cfg)
	if err != nil {
		return err
	}
	defer os.Remove(kubeconfig)
	op := exec.Command(hoardBin, "run", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--zap-log-level=error", "--pprof-bind-address=127.0.0.1:6061")
	op.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	op.Stderr = os.Stderr
	if err := op.Start(); err != nil {
		return fmt.Errorf("failed to start %s: %w", hoardBin, err)
	}
	defer func() { _ = op.Process.Kill(); _, _ = op.Process.Wait() }()
	var peak atomic.Int64
	stopRSS := sampleRSS(op.Process.Pid, &peak)
	defer stopRSS()

	cs := kubernetes.NewForConfigOrDie(cfg)
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	var mu sync.Mutex
	cronJobs := 0
	allCronJobs := make(chan time.Time, 1)
	jobSeen := map[string]time.Time{}
	sharedJobs := make(chan *batchv1.Job, shared+1)
	_, _ = factory.Batch().V1().CronJobs().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(any) {
		mu.Lock()
		defer mu.Unlock()
		if cronJobs++; cronJobs == configs {
			allCronJobs <- time.Now()
		}
	}})
	_, _ = factory.Batch().V1().Jobs().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		j := o.(*batchv1.Job)
		mu.Lock()
		defer mu.Unlock()
		jobSeen[j.Labels["hoard.io/session"]] = time.Now()
		if j.Labels[v1beta1.LabelInvokerName] != "" && strings.HasPrefix(j.Labels[v1beta1.LabelInvokerName], "shared-") {
			sharedJobs <- j
		}
	}})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	fmt.Printf("creating %d BackupConfigurations...\n", configs)
	start := time.Now()
	if err := parallel(configs, 16, func(i int) error {
		if err := c.Create(ctx, repository(fmt.Sprintf("repo-%04d", i))); err != nil {
			return err
		}
		return c.Create(ctx, backupConfiguration(fmt.Sprintf("bc-%04d", i), fmt.Sprintf("repo-%04d", i)))
	}); err != nil {
		return err
	}
	created := time.Since(start)
	var allAt time.Time
	select {
	case allAt = <-allCronJobs:
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("only %d of %d CronJobs after 10 minutes", cronJobs, configs)
	}

	// Triggers come on schedule ticks, long after a configuration was created: measure them
	// once the operator has settled (every configuration Ready).
	var readyAt time.Time
	for {
		list := &v1beta1.BackupConfigurationList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		ready := 0
		for _, bc := range list.Items {
			if bc.Status.Phase == v1beta1.BackupInvokerReady && bc.Status.ObservedGeneration == bc.Generation {
				ready++
			}
		}
		if ready == configs {
			readyAt = time.Now()
			break
		}
		if time.Since(start) > 15*time.Minute {
			return fmt.Errorf("only %d of %d BackupConfigurations Ready after 15 minutes", ready, configs)
		}
		time.Sleep(250 * time.Millisecond)
	}

	fmt.Printf("triggering %d BackupSessions...\n", triggers)
	sent := make([]time.Time, triggers)
	names := make([]string, triggers)
	triggerStart := time.Now()
	if err := parallel(triggers, 8, func(i int) error {
		if rate > 0 {
			time.Sleep(time.Until(triggerStart.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
		sent[i] = time.Now()
		bs, err := trigger.Trigger(ctx, c, ns, fmt.Sprintf("bc-%04d", i), time.Now)
		if err != nil {
			return err
		}
		names[i] = bs.Name
		return nil
	}); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	var latencies []time.Duration
	for {
		mu.Lock()
		latencies = latencies[:0]
		for i, name := range names {
			if at, ok := jobSeen[name]; ok {
				latencies = append(latencies, at.Sub(sent[i]))
			}
		}
		mu.Unlock()
		if len(latencies) == triggers {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d Jobs after 5 minutes", len(latencies), triggers)
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(latencies)
	p50 := latencies[len(latencies)*50/100]
	p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]

	handoffs, total, err := handoff(ctx, c, shared, sharedJobs)
	if err != nil {
		return err
	}
	rss := float64(peak.Load()) / (1 << 20)

	fmt.Printf("\nbench-controller: %d BackupConfigurations, %d triggers at %.0f/s (0 = all at once), real kube-apiserver + etcd (tmpfs), operator as its own process\n", configs, triggers, rate)
	fmt.Printf("  create %d BackupConfigurations:          %s\n", configs, created.Round(time.Millisecond))
	fmt.Printf("  until every CronJob exists:              %s\n", allAt.Sub(start).Round(time.Millisecond))
	fmt.Printf("  until every configuration is Ready:      %s\n", readyAt.Sub(start).Round(time.Millisecond))
	fmt.Printf("  trigger -> Job created   p50: %-8s p99: %-8s (target p99 < 1s: %s)\n", p50.Round(time.Millisecond), p99.Round(time.Millisecond), verdict(p99 < time.Second))
	fmt.Printf("  operator peak RSS:                       %.1f MiB (target < 150 MiB: %s)\n", rss, verdict(rss < 150))
	slices.Sort(handoffs)
	fmt.Printf("  %d sessions on one repository, one Job at a time: all done in %s; hand-off (Job ended -> next Job) p50: %s p99: %s\n",
		shared, total.Round(time.Millisecond), handoffs[len(handoffs)*50/100].Round(time.Millisecond), handoffs[min(len(handoffs)-1, len(handoffs)*99/100)].Round(time.Millisecond))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func parallel(n, workers int, f func(int) error) error {
	var wg sync.WaitGroup
	var firstErr atomic.Value
	next := atomic.Int64{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || firstErr.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return nil
}

// sampleRSS records the process's peak resident set (VmHWM) until stopped.
func sampleRSS(pid int, peak *atomic.Int64) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
						if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb*1024 > peak.Load() {
							peak.Store(kb * 1024)
						}
					}
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done) }
}

func writeKubeconfig(cfg *rest.Config) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	f, err := os.CreateTemp("", "hoard-bench-kubeconfig-*")
	if err != nil {
		return "", err
	}
	f.Close()
	return f.Name(), clientcmd.WriteToFile(*kc, f.Name())
}

// handoff triggers n sessions of n configurations that share one repository at once, and
// plays the Job controller: each Job the operator creates is marked Failed (no pod) as soon
// as it appears. It returns, for each Job after the first, the time from the previous Job's
// end to its creation, and the time until the last Job appeared.
func handoff(ctx context.Context, c client.Client, n int, jobs <-chan *batchv1.Job) ([]time.Duration, time.Duration, error) {
	if err := c.Create(ctx, repository("shared-repo")); err != nil {
		return nil, 0, err
	}
	for i := 0; i < n; i++ {
		if err := c.Create(ctx, backupConfiguration(fmt.Sprintf("shared-%02d", i), "shared-repo")); err != nil {
			return nil, 0, err
		}
	}
	fmt.Printf("triggering %d BackupSessions on one repository...\n", n)
	start := time.Now()
	if err := parallel(n, 8, func(i int) error {
		_, err := trigger.Trigger(ctx, c, ns, fmt.Sprintf("shared-%02d", i), time.Now)
		return err
	}); err != nil {
		return nil, 0, err
	}
	var handoffs []time.Duration
	var ended time.Time
	for i := 0; i < n; i++ {
		var job *batchv1.Job
		select {
		case j := <-jobs:
			job = j.DeepCopy() // the informer's copy is shared: never modify it
		case <-time.After(2 * time.Minute):
			return nil, 0, fmt.Errorf("only %d of %d Jobs on the shared repository after 2 minutes without a new one", i, n)
		}
		if i > 0 {
			handoffs = append(handoffs, time.Since(ended))
		}
		now := metav1.Now()
		job.Status.StartTime = &now
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
		}
		if err := c.Status().Update(ctx, job); err != nil {
			return nil, 0, fmt.Errorf("failed to end Job %s: %w", job.Name, err)
		}
		ended = time.Now()
	}
	return handoffs, time.Since(start), nil
}

func repository(name string) *v1alpha1.Repository {
	return &v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
		StorageSecretName: "storage", Rest: &v1alpha1.RestServerSpec{URL: "http://rest.bench.svc:8000/" + name}}}}
}

func backupConfiguration(name, repo string) *v1beta1.BackupConfiguration {
	return &v1beta1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1beta1.BackupConfigurationSpec{
			Schedule:        "0 3 * * *",
			Task:            v1beta1.TaskRef{Name: "mysql-backup-8.0.21"},
			Repository:      v1beta1.RepositoryRef{Name: repo},
			Target:          &v1beta1.BackupTarget{Ref: v1beta1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: "db"}},
			RetentionPolicy: v1alpha1.RetentionPolicy{Name: "keep", KeepLast: 5},
		},
	}
}

func fixtures(ctx context.Context, c client.Client) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "storage", Namespace: ns}, Data: map[string][]byte{"RESTIC_PASSWORD": []byte("x")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-auth", Namespace: ns}, Data: map[string][]byte{"username": []byte("root"), "password": []byte("pw")}},
		// The AppBinding's Service: sessions of a binding whose Service is missing do not start.
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 3306}}}},
		&appcatalogv1alpha1.AppBinding{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}, Spec: appcatalogv1alpha1.AppBindingSpec{
			ClientConfig: appcatalogv1alpha1.ClientConfig{Service: &appcatalogv1alpha1.ServiceReference{Name: "db", Port: 3306}},
			Secret:       &corev1.LocalObjectReference{Name: "db-auth"}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("failed to create %T %s: %w", o, o.GetName(), err)
		}
	}
	data, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "tasks", "mysql-addon.yaml"))
	if err != nil {
		return err
	}
	for _, doc := range strings.Split(string(data), "\n---") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || u.Object == nil || u.GetKind() == "" {
			continue
		}
		if err := c.Create(ctx, u); err != nil {
			return fmt.Errorf("failed to create %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}
