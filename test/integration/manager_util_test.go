package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/hoard-operator/hoard/internal/controller"
	"github.com/hoard-operator/hoard/internal/manager"
	"github.com/hoard-operator/hoard/internal/scheme"
)

// testOperatorImage is the operator image the controllers put into CronJobs and Jobs.
const testOperatorImage = "example.org/hoard:test"

// startManager starts a manager with every Hoard controller, as manager.New wires it, and
// stops it when the test ends (or when the returned function is called, e.g. to simulate an
// operator restart). Controller-name validation is skipped because every test starts its
// own manager in this one process.
func startManager(t *testing.T) context.CancelFunc {
	t.Helper()
	_, stop := startManagerWith(t, manager.Options{})
	return stop
}

// startManagerWith is startManager with the cache settings of opts (e.g. WatchNamespaces); it
// also returns the manager.
func startManagerWith(t *testing.T, opts manager.Options) (ctrl.Manager, context.CancelFunc) {
	t.Helper()
	o := managerOptions()
	// What the shipped manager watches and how it reads Secrets (directly, never cached).
	o.Cache, o.Client = manager.CacheOptions(opts), manager.ClientOptions()
	mgr, err := ctrl.NewManager(cfg, o)
	if err != nil {
		t.Fatalf("create manager: %v", err)
	}
	opts.Controllers.OperatorImage, opts.Controllers.SessionTimeout = testOperatorImage, time.Hour
	// A Secret changed under a Ready configuration shows within the tests' waits.
	opts.Controllers.ConfigurationRecheck = 3 * time.Second
	// A test pod has no kubelet: a container's waiting state is the test's, at once.
	opts.Controllers.StartGrace = time.Second
	if err := controller.Setup(mgr, opts.Controllers); err != nil {
		t.Fatalf("set up controllers: %v", err)
	}
	return mgr, runManager(t, mgr)
}

// managerOptions are the options of every manager a test starts: no metrics or probe port,
// and no controller-name validation, because every test starts its own manager in this one
// process.
func managerOptions() ctrl.Options {
	return ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	}
}

// runManager starts mgr and stops it when the test ends, or when the returned function is
// called (e.g. to simulate an operator restart); the test fails if it stops with an error or
// does not stop within 30s.
func runManager(t *testing.T, mgr ctrl.Manager) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("manager stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("manager did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return stop
}

// pollUntil calls check every 50ms until it returns nil or timeout passes, then fails the
// test with check's last error.
func pollUntil(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findEvent returns an error unless an Event with reason exists on the named object.
func findEvent(ctx context.Context, ns, object, reason string) error {
	var events corev1.EventList
	if err := k8sClient.List(ctx, &events, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, e := range events.Items {
		if e.InvolvedObject.Name == object && e.Reason == reason {
			return nil
		}
	}
	return fmt.Errorf("no event %s on %s/%s among %d events", reason, ns, object, len(events.Items))
}
