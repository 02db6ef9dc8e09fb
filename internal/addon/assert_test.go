package addon

import (
	"reflect"
	"testing"
)

func TestParseAssertions(t *testing.T) {
	got, err := ParseAssertions(`SELECT COUNT(*) = 300 FROM shop.orders; -- a comment
USE crm
SELECT COUNT(*) > 0 FROM customers WHERE name <> 'a;b';
DELIMITER //
SELECT 1 //
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Assertion{
		{SQL: "SELECT COUNT(*) = 300 FROM shop.orders"},
		{DB: "crm"},
		{SQL: "SELECT COUNT(*) > 0 FROM customers WHERE name <> 'a;b'"},
		{SQL: "SELECT 1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("assertions = %#v, want %#v", got, want)
	}
	if got, err := ParseAssertions("  \n"); err != nil || len(got) != 0 {
		t.Fatalf("empty param: %v, %v", got, err)
	}
}

func TestTruthy(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "0": false, "0.000": false, "": false, " ": false, "-2": true, "yes": true, "1e-9": true} {
		if got := truthy(v); got != want {
			t.Errorf("truthy(%q) = %v, want %v", v, got, want)
		}
	}
}
