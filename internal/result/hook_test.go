package result

import (
	"strings"
	"testing"
)

func TestMarshalHook_GivenLongOutput_ThenFitsAndParses(t *testing.T) {
	h := &Hook{Name: "postBackup", Action: "exec", Phase: PhaseFailed, Error: "command exited with 3",
		Output: "start " + strings.Repeat("x", 10000) + " password=hunter22 end"}
	b, err := MarshalHook(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxTerminationMessageBytes {
		t.Fatalf("%d bytes, more than %d", len(b), MaxTerminationMessageBytes)
	}
	got, err := ParseHook(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "postBackup" || got.Phase != PhaseFailed || got.Error != h.Error {
		t.Fatalf("round trip changed the hook: %+v", got)
	}
	if !strings.HasPrefix(got.Output, "start ") || !strings.HasSuffix(got.Output, " end") || !strings.Contains(got.Output, elision) {
		t.Fatalf("output not shortened in its middle: %.80q…", got.Output)
	}
	if strings.Contains(string(b), "hunter22") {
		t.Fatal("password=… survived marshalling")
	}
}

func TestParseHook_GivenBackupResult_ThenRefused(t *testing.T) {
	b, err := Marshal(&Result{Kind: KindBackup, Phase: PhaseSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseHook(b); err == nil {
		t.Fatal("a backup result parsed as a hook result")
	}
	hb, err := MarshalHook(&Hook{Name: "preBackup", Phase: PhaseSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(hb); err == nil {
		t.Fatal("a hook result parsed as a backup result")
	}
}
