package jobspec

import (
	"errors"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"A": "alpha", "EMPTY": "", "B": "b"}
	cases := map[string]struct {
		in      string
		want    string
		missing []string
	}{
		"plain":                {"no placeholders", "no placeholders", nil},
		"value":                {"--x=${A}", "--x=alpha", nil},
		"default unused":       {"--x=${A:=zzz}", "--x=alpha", nil},
		"default used":         {"--x=${NOPE:=zzz}", "--x=zzz", nil},
		"empty default":        {"--x=${NOPE:=}", "--x=", nil},
		"empty value wins":     {"--x=${EMPTY:=d}", "--x=", nil},
		"default with colon":   {"${NOPE:=--all-databases --opt=a:b}", "--all-databases --opt=a:b", nil},
		"several":              {"${A}/${B}-${NOPE:=c}", "alpha/b-c", nil},
		"missing":              {"--x=${NOPE} ${ALSO}", "--x=${NOPE} ${ALSO}", []string{"NOPE", "ALSO"}},
		"bare dollar kept":     {"cost $5 and $HOME", "cost $5 and $HOME", nil},
		"unterminated kept":    {"--x=${A", "--x=${A", nil},
		"adjacent":             {"${A}${B}", "alphab", nil},
		"value not rescanned":  {"${C}", "${A}", nil},
		"default not expanded": {"${NOPE:=x}", "x", nil},
	}
	vars["C"] = "${A}"
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, missing := Substitute(tc.in, vars)
			if got != tc.want {
				t.Errorf("Substitute(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !reflect.DeepEqual(missing, tc.missing) {
				t.Errorf("missing = %v, want %v", missing, tc.missing)
			}
		})
	}
}

func TestSubstituteObject(t *testing.T) {
	v := corev1.Volume{Name: "${vol}", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "${REPOSITORY_SECRET_NAME}"}}}
	if err := substituteObject(&v, map[string]string{"vol": "secret-volume", "REPOSITORY_SECRET_NAME": "gcs-secret"}, "volume"); err != nil {
		t.Fatal(err)
	}
	if v.Name != "secret-volume" || v.Secret.SecretName != "gcs-secret" {
		t.Errorf("got %+v", v)
	}

	bad := corev1.Volume{Name: "${vol}", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "${S}"}}}
	err := substituteObject(&bad, map[string]string{}, `Task "t" volume 0`)
	var ue *UnresolvedError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want UnresolvedError", err)
	}
	if !reflect.DeepEqual(ue.Names, []string{"S", "vol"}) {
		t.Errorf("names = %v", ue.Names)
	}
	if want := `Task "t" volume 0: no value for placeholder(s) ${S}, ${vol} (set them as task params)`; err.Error() != want {
		t.Errorf("error = %q, want %q", err.Error(), want)
	}
}
