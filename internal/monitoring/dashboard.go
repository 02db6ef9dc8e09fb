package monitoring

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The Grafana dashboard model, as much of it as the dashboard uses (schemaVersion 39).
type (
	Dashboard struct {
		UID           string     `json:"uid"`
		Title         string     `json:"title"`
		Description   string     `json:"description"`
		Tags          []string   `json:"tags"`
		Editable      bool       `json:"editable"`
		SchemaVersion int        `json:"schemaVersion"`
		Version       int        `json:"version"`
		Refresh       string     `json:"refresh"`
		Time          TimeRange  `json:"time"`
		Templating    Templating `json:"templating"`
		Panels        []Panel    `json:"panels"`
	}
	TimeRange  struct{ From, To string }
	Templating struct {
		List []Variable `json:"list"`
	}
	Variable struct {
		Name       string      `json:"name"`
		Label      string      `json:"label"`
		Type       string      `json:"type"`
		Query      string      `json:"query"`
		Datasource *Datasource `json:"datasource,omitempty"`
		Definition string      `json:"definition,omitempty"`
		Refresh    int         `json:"refresh,omitempty"`
		IncludeAll bool        `json:"includeAll"`
		Multi      bool        `json:"multi"`
		AllValue   string      `json:"allValue,omitempty"`
	}
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	Panel struct {
		ID          int         `json:"id"`
		Type        string      `json:"type"`
		Title       string      `json:"title"`
		Description string      `json:"description"`
		GridPos     GridPos     `json:"gridPos"`
		Datasource  Datasource  `json:"datasource"`
		Targets     []Target    `json:"targets"`
		FieldConfig FieldConfig `json:"fieldConfig"`
		Options     any         `json:"options,omitempty"`
	}
	GridPos struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	}
	Target struct {
		RefID        string     `json:"refId"`
		Datasource   Datasource `json:"datasource"`
		Expr         string     `json:"expr"`
		LegendFormat string     `json:"legendFormat"`
		Instant      bool       `json:"instant,omitempty"`
		Range        bool       `json:"range"`
	}
	FieldConfig struct {
		Defaults FieldDefaults `json:"defaults"`
	}
	FieldDefaults struct {
		Unit string `json:"unit,omitempty"`
		Min  *int   `json:"min,omitempty"`
	}
)

func (t TimeRange) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"from": t.From, "to": t.To})
}

// prometheus is the data source every panel queries: the dashboard's datasource variable.
func prometheus() Datasource { return Datasource{Type: "prometheus", UID: "${datasource}"} }

// ns restricts a selector to the namespaces picked in the dashboard.
const ns = `{namespace=~"$namespace"}`

// perHost sums a host-level selector per configuration. The max first drops the copies of a
// series that Prometheus scrapes from both the operator and the Pushgateway.
func perHost(selector string) string {
	return "sum by (namespace, invoker_name) (max by (namespace, invoker_name, kind, name, hostname) (" + selector + "))"
}

// panel builds a panel whose targets are the PromQL expressions exprs, each with the legend at
// the same index of legends.
func panel(kind, title, description, unit string, pos GridPos, instant bool, exprs, legends []string) Panel {
	p := Panel{
		Type: kind, Title: title, Description: description, GridPos: pos, Datasource: prometheus(),
		FieldConfig: FieldConfig{Defaults: FieldDefaults{Unit: unit}},
	}
	for i, e := range exprs {
		p.Targets = append(p.Targets, Target{
			RefID: string(rune('A' + i)), Datasource: prometheus(), Expr: e, LegendFormat: legends[i],
			Instant: instant, Range: !instant,
		})
	}
	return p
}

// NewDashboard returns Hoard's Grafana dashboard.
func NewDashboard() Dashboard {
	byInvoker := "max by (namespace, invoker_name) "
	byRepo := "max by (namespace, name) "
	invoker := []string{"{{namespace}}/{{invoker_name}}"}
	repo := []string{"{{namespace}}/{{name}}"}
	zero := 0
	ds := prometheus()
	panels := []Panel{
		panel("stat", "Backups failing", "Configurations whose latest finished backup failed.", "none",
			GridPos{H: 4, W: 6, X: 0, Y: 0}, true,
			[]string{"count(" + byInvoker + "(stash_backup_session_success" + ns + ") == 0) or vector(0)"}, []string{"failing"}),
		panel("stat", "Repositories failing their check", "Repositories whose latest integrity check failed.", "none",
			GridPos{H: 4, W: 6, X: 6, Y: 0}, true,
			[]string{"count(" + byRepo + "(stash_repository_integrity" + ns + ") == 0) or vector(0)"}, []string{"failing"}),
		panel("stat", "Restores failed", "RestoreSessions that failed and still exist.", "none",
			GridPos{H: 4, W: 6, X: 12, Y: 0}, true,
			[]string{"count(" + byInvoker + "(stash_restore_session_success" + ns + ") == 0) or vector(0)"}, []string{"failed"}),
		panel("stat", "Backup sessions running", "Configurations with a Pending or Running backup session.", "none",
			GridPos{H: 4, W: 6, X: 18, Y: 0}, true,
			[]string{"count(" + byInvoker + "(stash_backup_session_start_time_seconds" + ns + ")) or vector(0)"}, []string{"running"}),

		panel("bargauge", "Time since the last successful backup", "Per configuration, against its schedule's longest interval.", "s",
			GridPos{H: 8, W: 12, X: 0, Y: 4}, true,
			[]string{
				"time() - " + byInvoker + "(stash_backup_last_success_time_seconds" + ns + ")",
				byInvoker + "(stash_backup_schedule_interval_seconds" + ns + ")",
			}, []string{"{{namespace}}/{{invoker_name}} since success", "{{namespace}}/{{invoker_name}} interval"}),
		panel("state-timeline", "Backup outcome per configuration", "1: the latest finished backup succeeded; 0: it failed.", "none",
			GridPos{H: 8, W: 12, X: 12, Y: 4}, false,
			[]string{byInvoker + "(stash_backup_session_success" + ns + ")"}, invoker),

		panel("timeseries", "Backup session duration", "How long the latest successful backup of each configuration took.", "s",
			GridPos{H: 8, W: 12, X: 0, Y: 12}, false,
			[]string{byInvoker + "(stash_backup_session_duration_seconds" + ns + ")"}, invoker),
		panel("timeseries", "Backup size and upload", "Data backed up, and what was uploaded after deduplication, by the latest successful backup.", "bytes",
			GridPos{H: 8, W: 12, X: 12, Y: 12}, false,
			[]string{
				perHost("stash_backup_host_data_size_bytes" + ns),
				perHost("stash_backup_host_data_uploaded_bytes" + ns),
			}, []string{"{{namespace}}/{{invoker_name}} size", "{{namespace}}/{{invoker_name}} uploaded"}),

		panel("timeseries", "Repository size", "Size of each repository's data.", "bytes",
			GridPos{H: 8, W: 8, X: 0, Y: 20}, false,
			[]string{byRepo + "(stash_repository_size_bytes" + ns + ")"}, repo),
		panel("timeseries", "Repository growth per day", "Change of each repository's size over the last 24 hours.", "bytes",
			GridPos{H: 8, W: 8, X: 8, Y: 20}, false,
			[]string{byRepo + "(delta(stash_repository_size_bytes" + ns + "[1d]))"}, repo),
		panel("timeseries", "Deduplication ratio", "Data backed up divided by data uploaded, per configuration: how many times over restic's deduplication shrank the latest backup.", "none",
			GridPos{H: 8, W: 8, X: 16, Y: 20}, false,
			[]string{
				perHost("stash_backup_host_data_size_bytes"+ns) + "\n/\n" +
					perHost("stash_backup_host_data_uploaded_bytes"+ns+" > 0"),
			}, invoker),

		panel("timeseries", "Snapshots per repository", "Snapshots in each repository, and how many the retention policy removed on its latest run.", "none",
			GridPos{H: 8, W: 12, X: 0, Y: 28}, false,
			[]string{byRepo + "(stash_repository_snapshot_count" + ns + ")", byRepo + "(stash_repository_snapshot_cleaned" + ns + ")"},
			[]string{"{{namespace}}/{{name}} snapshots", "{{namespace}}/{{name}} removed"}),
		panel("timeseries", "Failures", "Failed backups (latest session per configuration), failed restores and failed integrity checks over time.", "none",
			GridPos{H: 8, W: 12, X: 12, Y: 28}, false,
			[]string{
				"count(" + byInvoker + "(stash_backup_session_success" + ns + ") == 0) or vector(0)",
				"count(" + byInvoker + "(stash_restore_session_success" + ns + ") == 0) or vector(0)",
				"count(" + byRepo + "(stash_repository_integrity" + ns + ") == 0) or vector(0)",
			}, []string{"backups", "restores", "repositories"}),
	}
	for i := range panels {
		panels[i].ID = i + 1
		if panels[i].Type == "timeseries" && panels[i].FieldConfig.Defaults.Unit != "s" {
			panels[i].FieldConfig.Defaults.Min = &zero
		}
	}
	return Dashboard{
		UID:           "hoard-backups",
		Title:         "Hoard backups",
		Description:   "Backups, restores and repositories of the Hoard operator, from its stash_* metrics.",
		Tags:          []string{"hoard", "backup", "stash"},
		Editable:      true,
		SchemaVersion: 39,
		Version:       1,
		Refresh:       "1m",
		Time:          TimeRange{From: "now-7d", To: "now"},
		Templating: Templating{List: []Variable{
			{Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus"},
			{
				Name: "namespace", Label: "Namespace", Type: "query", Datasource: &ds,
				Query:      "label_values(stash_backup_session_success, namespace)",
				Definition: "label_values(stash_backup_session_success, namespace)",
				Refresh:    2, IncludeAll: true, Multi: true, AllValue: ".*",
			},
		}},
		Panels: panels,
	}
}

// DashboardJSON is the dashboard as Grafana imports it.
func DashboardJSON() ([]byte, error) {
	b, err := json.MarshalIndent(NewDashboard(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("failed to encode the dashboard: %w", err)
	}
	return append(b, '\n'), nil
}

// DashboardQueryRules is every query of the dashboard as a recording rule of a Prometheus rule
// file, so that promtool parses them as Prometheus would (make test-alerts).
func DashboardQueryRules() string {
	var b strings.Builder
	b.WriteString(generated + "groups:\n- name: hoard.dashboard.queries\n  rules:\n")
	d := NewDashboard()
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			fmt.Fprintf(&b, "  - record: hoard_dashboard:variable_%s\n    expr: %s\n", v.Name, quote(strings.TrimSuffix(strings.TrimPrefix(v.Query, "label_values("), ", namespace)")))
		}
	}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			fmt.Fprintf(&b, "  - record: hoard_dashboard:panel_%d_%s\n    expr: %s\n", p.ID, strings.ToLower(t.RefID), quote(t.Expr))
		}
	}
	return b.String()
}
