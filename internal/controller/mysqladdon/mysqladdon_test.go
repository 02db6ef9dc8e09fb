package mysqladdon

import (
	"path/filepath"
	"runtime"
	"testing"
)

// The binary's embedded chart must be the chart in the repository: go:embed reads it at build
// time, so this guards against the embed pattern leaving files out (e.g. _helpers.tpl).
func TestEmbeddedChartMatchesDirectory(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "helm-charts", "mysql-addon")
	fromDir, err := LoadChart(dir)
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := LoadChart("")
	if err != nil {
		t.Fatal(err)
	}
	if embedded.Metadata.Name != fromDir.Metadata.Name || embedded.Metadata.Version != fromDir.Metadata.Version {
		t.Fatalf("embedded chart %s-%s, directory %s-%s", embedded.Metadata.Name, embedded.Metadata.Version, fromDir.Metadata.Name, fromDir.Metadata.Version)
	}
	want := map[string]string{}
	for _, f := range fromDir.Templates {
		want[f.Name] = string(f.Data)
	}
	if len(embedded.Templates) != len(want) {
		t.Fatalf("embedded chart has %d templates, directory %d", len(embedded.Templates), len(want))
	}
	for _, f := range embedded.Templates {
		if want[f.Name] != string(f.Data) {
			t.Errorf("template %s differs from the directory's", f.Name)
		}
	}
	if string(embedded.Schema) != string(fromDir.Schema) || len(embedded.Values) != len(fromDir.Values) {
		t.Error("embedded values or schema differ from the directory's")
	}
}
