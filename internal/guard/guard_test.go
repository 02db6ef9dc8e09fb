package guard

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestObjects(t *testing.T) {
	policy, binding, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	if policy.Name != "hoard-admission-guard" || binding.Name != policy.Name || binding.Spec.PolicyName != policy.Name {
		t.Errorf("names: policy %q, binding %q naming %q", policy.Name, binding.Name, binding.Spec.PolicyName)
	}
	sel := binding.Spec.MatchResources.NamespaceSelector
	want := metav1.LabelSelectorRequirement{Key: RelaxLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{RelaxValue}}
	if sel == nil || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != want.Key ||
		sel.MatchExpressions[0].Operator != want.Operator || strings.Join(sel.MatchExpressions[0].Values, ",") != RelaxValue {
		t.Errorf("namespaceSelector %+v, want %+v", sel, want)
	}
	if len(binding.Spec.ValidationActions) != 1 || binding.Spec.ValidationActions[0] != "Deny" {
		t.Errorf("validationActions %v, want [Deny]", binding.Spec.ValidationActions)
	}
}

// TestOverridePattern runs the policy's argument pattern (RE2, which Go's regexp implements as
// CEL does) over the addon's table of arguments, the way the policy applies it: quotes and
// backslashes dropped, the first match named. The envtest checks the same through the API
// server; this fails fast and without one.
func TestOverridePattern(t *testing.T) {
	policy, _, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	var expr string
	for _, v := range policy.Spec.Variables {
		if v.Name == "overrideRe" {
			expr = v.Expression
		}
	}
	if !strings.HasPrefix(expr, "r'") || !strings.HasSuffix(expr, "'") {
		t.Fatalf("overrideRe is %q, want a raw string literal", expr)
	}
	re := regexp.MustCompile(expr[2 : len(expr)-1])
	f, err := os.Open("../mysql/testdata/connection-args.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	clean := strings.NewReplacer(`"`, "", "'", "", `\`, "")
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, "\t", 3)
		verdict, named, raw := fields[0], fields[1], fields[2]
		n++
		found := strings.TrimSpace(re.FindString(clean.Replace(raw)))
		switch {
		case verdict == "allow" && found != "":
			t.Errorf("%q: the policy would refuse %q", raw, found)
		case verdict == "deny" && found != named:
			t.Errorf("%q: the policy would name %q, want %q", raw, found, named)
		}
	}
	if n < 30 {
		t.Fatalf("only %d cases read", n)
	}
}
