package manager

import (
	"reflect"
	"testing"
)

func TestParseNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{name: "empty means every namespace", in: "", want: nil},
		{name: "OLM AllNamespaces", in: " ", want: nil},
		{name: "one", in: "team-a", want: []string{"team-a"}},
		{name: "OLM MultiNamespace", in: "team-a,team-b", want: []string{"team-a", "team-b"}},
		{name: "spaces, empty entries and repeats", in: " team-a, ,team-b,team-a,", want: []string{"team-a", "team-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseNamespaces(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseNamespaces(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
