package snaptag

import (
	"reflect"
	"testing"
)

func TestTagsRoundTrip(t *testing.T) {
	target := Identity{Namespace: "demo", Kind: "AppBinding", Name: "shop-db"}
	tags := Tags(target, "BackupConfiguration", "nightly")
	// The format of every snapshot Hoard has written so far.
	if want := []string{"namespace=demo", "invoker=BackupConfiguration/nightly", "target=AppBinding/shop-db"}; !reflect.DeepEqual(tags, want) {
		t.Errorf("tags %q, want %q", tags, want)
	}
	if id, ok := Of(append([]string{"monthly"}, tags...)); !ok || id != target || id.String() != "demo/AppBinding/shop-db" {
		t.Errorf("Of = %+v, %v", id, ok)
	}
	for _, tags := range [][]string{nil, {"monthly"}, {"namespace=demo"}, {"target=AppBinding/x"}, {"namespace=demo", "target=AppBinding"}} {
		if id, ok := Of(tags); ok {
			t.Errorf("Of(%q) = %+v, want none", tags, id)
		}
	}
	if got := Tags(Identity{Namespace: "demo"}, "", ""); !reflect.DeepEqual(got, []string{"namespace=demo"}) {
		t.Errorf("tags without invoker/target = %q", got)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Identity{
		"AppBinding/db-a":       {Namespace: "demo", Kind: "AppBinding", Name: "db-a"},
		" other/AppBinding/db ": {Namespace: "other", Kind: "AppBinding", Name: "db"},
	} {
		if got, err := Parse(in, "demo"); err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "db-a", "a/b/c/d", "/db", "AppBinding/"} {
		if _, err := Parse(bad, "demo"); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
