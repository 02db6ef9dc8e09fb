package monitoring

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hoard-operator/hoard/internal/metrics"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`stash_backup_session_success{namespace=~"$namespace", invoker_name!="x"} == 0`, []string{"stash_backup_session_success"}},
		{`count(max by (namespace, name) (stash_repository_integrity) == 0) or vector(0)`, []string{"stash_repository_integrity"}},
		{`sum without (job, instance) (rate(foo_total[5m] offset 1h)) / on (a) group_left (b) bar`, []string{"bar", "foo_total"}},
		{`max by (namespace)(a) > bool 1e9 and b unless c`, []string{"a", "b", "c"}},
		{`label_replace(x, "dst", "$1", "src", "(.*)")`, []string{"x"}},
		{"time() - last # a comment naming not_a_metric\n", []string{"last"}},
		{`clamp_min(3 * max_over_time(d[7d:1m]), 900)`, []string{"d"}},
		{`sum(x) by (namespace) * on() group_right() y`, []string{"x", "y"}},
		{`byte_total + without_x`, []string{"byte_total", "without_x"}},
	} {
		got, err := MetricNames(tc.expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("MetricNames(%q) = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
	for _, bad := range []string{`sum(x`, `x{a="b"`, `x{a="b}`, `x]`} {
		if got, err := MetricNames(bad); err == nil {
			t.Errorf("MetricNames(%q) = %v, want an error", bad, got)
		}
	}
}

// checkExported fails unless expr selects at least one metric and only metrics Hoard exports.
func checkExported(t *testing.T, what, expr string) {
	t.Helper()
	names, err := MetricNames(expr)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s queries no metric: %q", what, expr)
	}
	exported := metrics.ExportedNames()
	for _, n := range names {
		if !slices.Contains(exported, n) {
			t.Errorf("%s queries %s, which Hoard does not export (internal/metrics.ExportedNames)", what, n)
		}
	}
}

func TestDashboardQueriesExportedMetrics(t *testing.T) {
	// Read back from the JSON Grafana imports, not from the Go values: what is checked is what
	// ships.
	data, err := DashboardJSON()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string
		Templating struct {
			List []struct{ Name, Type, Query string }
		}
		Panels []struct {
			ID      int
			Title   string
			GridPos struct{ H, W, X, Y int }
			Targets []struct {
				RefID string
				Expr  string
			}
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard has no uid or no panels: %s", data)
	}
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-z_]+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, v.Query)
			continue
		}
		checkExported(t, "variable "+v.Name, m[1])
	}
	ids := map[int]bool{}
	covered := map[string]bool{}
	for _, p := range d.Panels {
		what := "panel " + p.Title
		if ids[p.ID] {
			t.Errorf("%s: duplicate id %d", what, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%s: gridPos %+v outside Grafana's 24 columns", what, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s has no query", what)
		}
		for _, tg := range p.Targets {
			checkExported(t, what+" query "+tg.RefID, tg.Expr)
			names, _ := MetricNames(tg.Expr)
			for _, n := range names {
				covered[n] = true
			}
		}
	}
	// What the issue asks the dashboard to show, by the metric that shows it.
	for _, n := range []string{
		"stash_backup_last_success_time_seconds", // last success per configuration
		"stash_backup_session_duration_seconds",  // duration over time
		"stash_backup_host_data_size_bytes",      // size over time, dedup ratio
		"stash_backup_host_data_uploaded_bytes",  // dedup ratio
		"stash_repository_size_bytes",            // repository growth
		"stash_backup_session_success",           // failures
		"stash_restore_session_success",
		"stash_repository_integrity",
	} {
		if !covered[n] {
			t.Errorf("no panel queries %s", n)
		}
	}
}

func TestAlertsQueryExportedMetrics(t *testing.T) {
	// Read back from the rule file that ships.
	var f struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.UnmarshalStrict([]byte(RuleFile()), &f); err != nil {
		t.Fatalf("the rule file is not YAML: %v", err)
	}
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			checkExported(t, "alert "+r.Alert, r.Expr)
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s has no severity", r.Alert)
			}
			for _, a := range []string{"summary", "description", "runbook", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("alert %s has no %s annotation", r.Alert, a)
				}
			}
			if want := "#" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
				t.Errorf("alert %s: runbook_url %s does not point at its section", r.Alert, r.Annotations["runbook_url"])
			}
			if !strings.Contains(Runbooks(), "\n## "+r.Alert+"\n") {
				t.Errorf("docs/runbooks.md has no section for %s", r.Alert)
			}
		}
	}
	// The alerts the issue asks for.
	for _, a := range []string{"HoardBackupFailed", "HoardBackupOverdue", "HoardRepositoryIntegrityFailed", "HoardSnapshotVerificationFailed", "HoardRestoreFailed", "HoardBackupSessionRunningLong"} {
		if !slices.Contains(names, a) {
			t.Errorf("no alert %s in %v", a, names)
		}
	}
}

func TestChartRulesAreTheConfigRules(t *testing.T) {
	// The chart's template differs from config/ only in the escaped Prometheus templates and
	// the tunable numbers; undoing both must give config/'s rules back. (test/packaging renders
	// the chart with Helm and compares the result too.)
	chart := ChartPrometheusRule()
	_, spec, ok := strings.Cut(chart, "\nspec:\n")
	if !ok {
		t.Fatalf("no spec in the chart template:\n%s", chart)
	}
	spec = strings.TrimSuffix(spec, "{{- end }}\n")
	unescaped := regexp.MustCompile("\\{\\{`(\\{\\{.*?\\}\\})`\\}\\}").ReplaceAllString(spec, "$1")
	d := DefaultParams()
	values := strings.NewReplacer(
		"{{ .Values.prometheusRule.overdueFactor | float64 }}", d.OverdueFactor,
		"{{ .Values.prometheusRule.longRunningFactor | float64 }}", d.LongRunningFactor,
		"{{ .Values.prometheusRule.longRunningMinimumSeconds | float64 }}", d.LongRunningMinimumSeconds,
	).Replace(unescaped)
	_, want, _ := strings.Cut(PrometheusRule(), "\nspec:\n")
	if values != want {
		t.Errorf("the chart's rules differ from config/'s:\n%s\nwant:\n%s", values, want)
	}
	if strings.Contains(chart, "@@") {
		t.Errorf("a parameter placeholder is left in the chart template")
	}
}
