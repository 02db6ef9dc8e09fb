// Command snapshots measures `kubectl get snapshots` on a real kube-apiserver + etcd holding
// many Snapshot objects (default 10,000 across 100 Repositories, as the operator writes
// them): the latency of the real kubectl binary for Stash's guide command (one repository's
// snapshots by label), for a whole namespace, and across all namespaces, as p50 and p99. It
// prints figures and asserts no timing.
//
//	make bench-snapshots [BENCH_SNAPSHOTS=10000] [BENCH_REPOSITORIES=100] [BENCH_RUNS=30]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scheme"
	"github.com/hoard-operator/hoard/internal/snapshot"
	"github.com/hoard-operator/hoard/test/envtestutil"
)

// namespaces hold the Repositories, round robin: per-namespace lists are what users run.
const namespaces = 10

func main() {
	total := flag.Int("snapshots", 10000, "Snapshot objects to create")
	repos := flag.Int("repositories", 100, "Repositories they are spread across")
	runs := flag.Int("runs", 30, "kubectl runs per measured command")
	kubectlBin := flag.String("kubectl", filepath.Join(envtestutil.RepoRoot(), "bin", "kubectl"), "kubectl binary")
	flag.Parse()
	if err := run(*total, *repos, *runs, *kubectlBin); err != nil {
		fmt.Fprintln(os.Stderr, "bench-snapshots:", err)
		os.Exit(1)
	}
}

func run(total, repos, runs int, kubectlBin string) error {
	env, cfg, err := envtestutil.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := 0; i < namespaces; i++ {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)}}); err != nil {
			return err
		}
	}
	repositories := make([]*v1alpha1.Repository, repos)
	for i := range repositories {
		r := &v1alpha1.Repository{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("repo-%03d", i), Namespace: fmt.Sprintf("bench-%d", i%namespaces), Labels: map[string]string{"team": "db"}},
			Spec:       v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{StorageSecretName: "s", Rest: &v1alpha1.RestServerSpec{URL: fmt.Sprintf("http://rest:8000/repo-%03d", i)}}},
		}
		if err := c.Create(ctx, r); err != nil {
			return err
		}
		repositories[i] = r
	}

	fmt.Printf("creating %d Snapshot objects across %d Repositories in %d namespaces...\n", total, repos, namespaces)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				repo := repositories[i%repos]
				id := fmt.Sprintf("%08x%056x", i, i)
				s := result.Snapshot{Name: id[:8], ID: id, Tree: strings.Repeat("ab", 32), Paths: []string{"/dumpfile.sql"}, Hostname: "host-0",
					Username: "hoard", UID: 65532, GID: 65532, TotalBytes: 7146291,
					Tags: []string{"namespace=" + repo.Namespace, "invoker=BackupConfiguration/nightly", "target=AppBinding/db"},
					Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}
				if err := c.Create(ctx, snapshot.Object(repo, &s, repo.Namespace+"/nightly-1")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("failed to create Snapshots: %w", err)
	}
	fmt.Printf("created in %s\n", time.Since(start).Round(time.Millisecond))

	kubeconfig, err := writeKubeconfig(cfg)
	if err != nil {
		return err
	}
	defer os.Remove(kubeconfig)
	// The first command's p50: kubectl's own start, discovery and one small request, which
	// every command pays; the others print their p50 as a multiple of it.
	var baseline time.Duration
	perRepo := total / repos
	perNS := total / namespaces
	for _, m := range []struct {
		what string
		args []string
		rows int
	}{
		// kubectl's own start and discovery, for scale: what any command costs here.
		{"baseline", []string{"get", "namespaces", "bench-2", "--no-headers"}, 0},
		{"Stash's guide command, one repository", []string{"get", "snapshots", "-n", "bench-2", "-l", "repository=repo-042"}, perRepo},
		// Without kubectl's default paging (limit=500): the API server answers one request.
		{"the same, unpaged", []string{"get", "snapshots", "-n", "bench-2", "-l", "repository=repo-042", "--chunk-size=0"}, perRepo},
		{"one namespace", []string{"get", "snapshots", "-n", "bench-2"}, perNS},
		{"all namespaces", []string{"get", "snapshots", "-A"}, total},
	} {
		var lat []time.Duration
		for i := 0; i < runs+1; i++ {
			cmd := exec.Command(kubectlBin, m.args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
			t0 := time.Now()
			out, err := cmd.Output()
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("kubectl %s: %w", strings.Join(m.args, " "), err)
			}
			if rows := strings.Count(string(out), "\n") - 1; m.rows > 0 && rows != m.rows {
				return fmt.Errorf("kubectl %s listed %d rows, want %d", strings.Join(m.args, " "), rows, m.rows)
			}
			if i > 0 { // the first run warms kubectl's discovery cache
				lat = append(lat, d)
			}
		}
		slices.Sort(lat)
		p50 := pct(lat, 50)
		if baseline == 0 {
			baseline = p50
		}
		fmt.Printf("kubectl %-52s %5d rows  p50 %7s  p99 %7s  %5.1f× baseline  (%d runs)\n", strings.Join(m.args, " "), m.rows,
			p50.Round(time.Millisecond), pct(lat, 99).Round(time.Millisecond), float64(p50)/float64(baseline), len(lat))
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average while measuring: %s", load)
	}
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted), i)-1)]
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
