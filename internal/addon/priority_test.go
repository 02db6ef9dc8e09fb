package addon

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestPriorityWrapper(t *testing.T) {
	cases := map[string]struct {
		env     []string
		want    []string
		wantErr string
	}{
		"none":         {[]string{"PATH=/bin"}, nil, ""},
		"nice":         {[]string{"NICE_ADJUSTMENT=5"}, []string{"nice", "-n", "5"}, ""},
		"both":         {[]string{"NICE_ADJUSTMENT=10", "IONICE_CLASS=2", "IONICE_CLASS_DATA=7"}, []string{"nice", "-n", "10", "ionice", "-t", "-c", "2", "-n", "7"}, ""},
		"idle class":   {[]string{"IONICE_CLASS=3", "IONICE_CLASS_DATA=4"}, []string{"ionice", "-t", "-c", "3"}, ""},
		"bad nice":     {[]string{"NICE_ADJUSTMENT=99"}, nil, "NICE_ADJUSTMENT \"99\""},
		"bad class":    {[]string{"IONICE_CLASS=best"}, nil, "IONICE_CLASS \"best\""},
		"bad priority": {[]string{"IONICE_CLASS=2", "IONICE_CLASS_DATA=9"}, nil, "IONICE_CLASS_DATA \"9\""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := PriorityWrapper(tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestPriorityWrapperApplies runs a real process through the wrapper and reads back its
// niceness and I/O class from the kernel.
func TestPriorityWrapperApplies(t *testing.T) {
	w, err := PriorityWrapper([]string{"NICE_ADJUSTMENT=7", "IONICE_CLASS=3"})
	if err != nil {
		t.Fatal(err)
	}
	argv := append(w, "sh", "-c", `echo "$(ps -o ni= -p $$) $(ionice -p $$)"`)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got := strings.Join(strings.Fields(string(out)), " "); got != "7 idle" {
		t.Errorf("niceness and I/O class = %q, want \"7 idle\"", got)
	}
}
