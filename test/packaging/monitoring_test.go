package packaging

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// monitoringOn returns the helm arguments that turn on every optional monitoring object of the
// hoard chart, and then more.
func monitoringOn(more ...string) []string {
	return append([]string{"--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true"}, more...)
}

func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func TestChartMonitoringOffByDefault(t *testing.T) {
	objs := helmTemplate(t)
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		if got := byKind(objs, kind); len(got) != 0 {
			t.Errorf("the default chart renders a %s", kind)
		}
	}
	for _, cm := range byKind(objs, "ConfigMap") {
		if _, ok := cm.GetLabels()["grafana_dashboard"]; ok {
			t.Errorf("the default chart renders the dashboard ConfigMap %s", cm.GetName())
		}
	}
}

func TestChartPrometheusRuleIsConfigs(t *testing.T) {
	// Rendered by Helm with the default values, the chart's rules are config/'s: Helm's
	// escaping of the Prometheus templates and the tunable numbers come out as config/ has them.
	rules := byKind(helmTemplate(t, monitoringOn()...), "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("rendered %d PrometheusRules, want 1", len(rules))
	}
	data, err := os.ReadFile(filepath.Join(root(t), "config", "prometheus", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := docs(t, data)
	if len(want) != 1 {
		t.Fatalf("config/prometheus/prometheusrule.yaml has %d documents", len(want))
	}
	if !reflect.DeepEqual(rules[0].Object["spec"], want[0].Object["spec"]) {
		t.Errorf("the chart's PrometheusRule spec differs from config/prometheus/prometheusrule.yaml")
	}

	// A tuned value reaches the expression.
	tuned := byKind(helmTemplate(t, monitoringOn("--set", "prometheusRule.overdueFactor=3.5,prometheusRule.labels.release=prom")...), "PrometheusRule")
	if len(tuned) != 1 || tuned[0].GetLabels()["release"] != "prom" {
		t.Fatalf("prometheusRule.labels not on the PrometheusRule: %v", tuned)
	}
	groups, _, _ := unstructured.NestedSlice(tuned[0].Object, "spec", "groups")
	found := false
	for _, r := range groups[0].(map[string]any)["rules"].([]any) {
		rule := r.(map[string]any)
		if rule["alert"] == "HoardBackupOverdue" {
			found = strings.Contains(rule["expr"].(string), "3.5 * max by")
		}
	}
	if !found {
		t.Errorf("prometheusRule.overdueFactor=3.5 did not reach HoardBackupOverdue's expression")
	}
}

func TestChartServiceMonitorSelectsTheMetricsService(t *testing.T) {
	objs := helmTemplate(t, monitoringOn()...)
	sms := byKind(objs, "ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("rendered %d ServiceMonitors, want 1 (no Pushgateway)", len(sms))
	}
	sel, _, _ := unstructured.NestedStringMap(sms[0].Object, "spec", "selector", "matchLabels")
	endpoints, _, _ := unstructured.NestedSlice(sms[0].Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v", endpoints)
	}
	port := endpoints[0].(map[string]any)["port"]
	var matched []string
	for _, svc := range byKind(objs, "Service") {
		labels := svc.GetLabels()
		ok := true
		for k, v := range sel {
			ok = ok && labels[k] == v
		}
		if !ok {
			continue
		}
		matched = append(matched, svc.GetName())
		ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		hasPort := false
		for _, p := range ports {
			hasPort = hasPort || p.(map[string]any)["name"] == port
		}
		if !hasPort {
			t.Errorf("Service %s has no port %v", svc.GetName(), port)
		}
	}
	if len(matched) != 1 || matched[0] != "hoard-metrics" {
		t.Errorf("the ServiceMonitor selects Services %v, want [hoard-metrics]", matched)
	}

	// With the chart's Pushgateway, a second ServiceMonitor keeps the pushed job labels.
	withPG := byKind(helmTemplate(t, monitoringOn("--set", "pushgateway.enabled=true")...), "ServiceMonitor")
	if len(withPG) != 2 {
		t.Fatalf("rendered %d ServiceMonitors with the Pushgateway, want 2", len(withPG))
	}
	honor, _, _ := unstructured.NestedSlice(withPG[1].Object, "spec", "endpoints")
	if len(honor) != 1 || honor[0].(map[string]any)["honorLabels"] != true {
		t.Errorf("the Pushgateway ServiceMonitor does not honour the pushed labels: %v", honor)
	}
}

func TestChartDashboardIsConfigs(t *testing.T) {
	var dash *unstructured.Unstructured
	for _, cm := range byKind(helmTemplate(t, monitoringOn()...), "ConfigMap") {
		if cm.GetLabels()["grafana_dashboard"] == "1" {
			dash = cm
		}
	}
	if dash == nil {
		t.Fatal("no ConfigMap labelled grafana_dashboard=1")
	}
	got, _, _ := unstructured.NestedString(dash.Object, "data", "hoard.json")
	want, err := os.ReadFile(filepath.Join(root(t), "config", "grafana", "hoard-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("the chart's dashboard differs from config/grafana/hoard-dashboard.json")
	}
}
