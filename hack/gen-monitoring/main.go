// Command gen-monitoring writes Hoard's alert rules, runbooks and Grafana dashboard from
// internal/monitoring into config/, the hoard chart and docs/.
//
//	go run ./hack/gen-monitoring [ROOT]    (default: the current directory)
//	go run ./hack/gen-monitoring --dashboard-queries FILE
//	                                       write the dashboard's queries as recording rules, for
//	                                       promtool to parse (make test-alerts)
//
// `make monitoring` writes the tree; `make check-monitoring` writes into a temporary directory
// and diffs.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hoard-operator/hoard/internal/monitoring"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "--dashboard-queries":
		err = os.WriteFile(os.Args[2], []byte(monitoring.DashboardQueryRules()), 0o644)
	case len(os.Args) <= 2:
		root := "."
		if len(os.Args) == 2 {
			root = os.Args[1]
		}
		err = run(root)
	default:
		err = fmt.Errorf("usage: gen-monitoring [ROOT] | --dashboard-queries FILE")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-monitoring:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	dashboard, err := monitoring.DashboardJSON()
	if err != nil {
		return err
	}
	for path, data := range map[string][]byte{
		"config/prometheus/hoard-rules.yaml":              []byte(monitoring.RuleFile()),
		"config/prometheus/prometheusrule.yaml":           []byte(monitoring.PrometheusRule()),
		"config/grafana/hoard-dashboard.json":             dashboard,
		"helm-charts/hoard/templates/prometheusrule.yaml": []byte(monitoring.ChartPrometheusRule()),
		"helm-charts/hoard/dashboards/hoard-backups.json": dashboard,
		"docs/runbooks.md":                                []byte(monitoring.Runbooks()),
	} {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("failed to create the directory of %s: %w", path, err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", path, err)
		}
	}
	return nil
}
