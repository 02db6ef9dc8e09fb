// Package tasksfile reads the Tasks and Functions Hoard ships: tasks/mysql-addon.yaml, the
// addon chart rendered (kept current by make check-tasks). Tests take the Function args the
// operator renders from here, filled with the operator's own placeholder rule
// (jobspec.Substitute), instead of copies that could drift from the chart.
package tasksfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// Path is tasks/mysql-addon.yaml, found from this file's location so tests work from any
// package directory.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tasks", "mysql-addon.yaml")
}

// Functions are the shipped Functions, in the file's order.
func Functions() ([]v1beta1.Function, error) {
	raw, err := os.ReadFile(Path())
	if err != nil {
		return nil, err
	}
	var out []v1beta1.Function
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var fn v1beta1.Function
		if err := yaml.Unmarshal([]byte(doc), &fn); err != nil {
			return nil, fmt.Errorf("tasks/mysql-addon.yaml: %w", err)
		}
		if fn.Kind == "Function" {
			out = append(out, fn)
		}
	}
	return out, nil
}

// Function is the shipped Function called name.
func Function(name string) (*v1beta1.Function, error) {
	fns, err := Functions()
	if err != nil {
		return nil, err
	}
	for i := range fns {
		if fns[i].Name == name {
			return &fns[i], nil
		}
	}
	return nil, fmt.Errorf("tasks/mysql-addon.yaml has no Function %s", name)
}

// Substitute is the operator's placeholder rule, jobspec.Substitute. It is passed in because
// jobspec's own tests read the Functions here too, and jobspec cannot be imported by them.
type Substitute func(s string, vars map[string]string) (out string, missing []string)

// Args are the args of the shipped Function called name, each placeholder filled by subst from
// vars or else its default, as the operator fills them for a Job. A placeholder with neither
// is an error.
func Args(name string, vars map[string]string, subst Substitute) ([]string, error) {
	fn, err := Function(name)
	if err != nil {
		return nil, err
	}
	var args []string
	for _, a := range fn.Spec.Args {
		s, missing := subst(a, vars)
		if len(missing) > 0 {
			return nil, fmt.Errorf("Function %s: arg %q has no value for %v", name, a, missing)
		}
		args = append(args, s)
	}
	return args, nil
}

// MustArgs is Args for a test: an error fails t.
func MustArgs(t testing.TB, name string, vars map[string]string, subst Substitute) []string {
	t.Helper()
	args, err := Args(name, vars, subst)
	if err != nil {
		t.Fatal(err)
	}
	return args
}
