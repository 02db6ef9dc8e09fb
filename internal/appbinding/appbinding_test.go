package appbinding

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
)

func binding(cc v1alpha1.ClientConfig, transforms ...v1alpha1.SecretTransform) *v1alpha1.AppBinding {
	return &v1alpha1.AppBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "sample-mysql", Namespace: "demo"},
		Spec: v1alpha1.AppBindingSpec{
			ClientConfig:     cc,
			Secret:           &corev1.LocalObjectReference{Name: "sample-mysql-auth"},
			SecretTransforms: transforms,
		},
	}
}

func TestAddress(t *testing.T) {
	cases := map[string]struct {
		cc   v1alpha1.ClientConfig
		host string
		port int
	}{
		"service":          {v1alpha1.ClientConfig{Service: &v1alpha1.ServiceReference{Name: "db", Port: 3307}}, "db.demo.svc", 3307},
		"service no port":  {v1alpha1.ClientConfig{Service: &v1alpha1.ServiceReference{Name: "db"}}, "db.demo.svc", 3306},
		"service over url": {v1alpha1.ClientConfig{URL: ptr.To("tcp(x:1)/"), Service: &v1alpha1.ServiceReference{Name: "db", Port: 3306}}, "db.demo.svc", 3306},
		"dsn url":          {v1alpha1.ClientConfig{URL: ptr.To("tcp(sample-mysql.demo.svc:3306)/")}, "sample-mysql.demo.svc", 3306},
		"user in dsn":      {v1alpha1.ClientConfig{URL: ptr.To("root@tcp(10.0.0.5:3310)/db")}, "10.0.0.5", 3310},
		"mysql scheme":     {v1alpha1.ClientConfig{URL: ptr.To("mysql://db.example.com:3308/")}, "db.example.com", 3308},
		"host:port":        {v1alpha1.ClientConfig{URL: ptr.To("db.example.com:3309")}, "db.example.com", 3309},
		"host only":        {v1alpha1.ClientConfig{URL: ptr.To("db.example.com")}, "db.example.com", 3306},
		"ipv6 with port":   {v1alpha1.ClientConfig{URL: ptr.To("tcp([::1]:3306)/")}, "::1", 3306},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			host, port, err := Address(binding(tc.cc))
			if err != nil {
				t.Fatal(err)
			}
			if host != tc.host || port != tc.port {
				t.Errorf("got %s:%d, want %s:%d", host, port, tc.host, tc.port)
			}
		})
	}
	for _, bad := range []string{"tcp(db:notaport)/", "tcp(db:3306", "mysql://db:99999/"} {
		if _, _, err := Address(binding(v1alpha1.ClientConfig{URL: ptr.To(bad)})); err == nil {
			t.Errorf("url %q accepted", bad)
		}
	}
}

func TestConnectionWithTransforms(t *testing.T) {
	ab := binding(v1alpha1.ClientConfig{
		Service:               &v1alpha1.ServiceReference{Name: "db", Port: 3306},
		CABundle:              []byte("PEM"),
		InsecureSkipTLSVerify: true,
	},
		v1alpha1.SecretTransform{RenameKey: &v1alpha1.RenameKeyTransform{From: "user", To: "username"}},
		v1alpha1.SecretTransform{AddKeysFrom: &v1alpha1.AddKeysFromTransform{SecretRef: &v1alpha1.ObjectReference{Name: "extra"}}},
		v1alpha1.SecretTransform{AddKey: &v1alpha1.AddKeyTransform{Key: "note", StringValue: ptr.To("x")}},
		v1alpha1.SecretTransform{RemoveKey: &v1alpha1.RemoveKeyTransform{Key: "legacy"}},
	)
	get := func(ns, name string) (map[string][]byte, error) {
		if ns != "demo" || name != "extra" {
			return nil, errors.New("unexpected secret " + ns + "/" + name)
		}
		return map[string][]byte{"password": []byte("s3cret")}, nil
	}
	got, err := Connection(ab, map[string][]byte{"user": []byte("root"), "legacy": []byte("x")}, get)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		KeyHost: []byte("db.demo.svc"), KeyPort: []byte("3306"),
		KeyUsername: []byte("root"), KeyPassword: []byte("s3cret"),
		KeyCACert: []byte("PEM"), KeyInsecureSkipTLSVerify: []byte("true"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	_, err = Connection(binding(v1alpha1.ClientConfig{Service: &v1alpha1.ServiceReference{Name: "db"}}), map[string][]byte{"username": []byte("root")}, get)
	if err == nil || !strings.Contains(err.Error(), `Secret sample-mysql-auth has no key "password"`) {
		t.Errorf("missing password: err = %v", err)
	}
	if strings.Contains(err.Error(), "root") {
		t.Errorf("error leaks secret data: %v", err)
	}
	// A Secret of another namespace is never read, and the refusal does not say whether it
	// exists. The same namespace, named explicitly, is fine.
	called := false
	spy := func(ns, name string) (map[string][]byte, error) { called = true; return get(ns, name) }
	steal := []v1alpha1.SecretTransform{{AddKeysFrom: &v1alpha1.AddKeysFromTransform{SecretRef: &v1alpha1.ObjectReference{Namespace: "kube-system", Name: "token"}}}}
	_, err = Transform(map[string][]byte{}, steal, "demo", spy)
	if err == nil || called || !strings.Contains(err.Error(), `secretTransforms[0].addKeysFrom.secretRef.namespace "kube-system": a Secret of another namespace is not read`) {
		t.Errorf("cross-namespace addKeysFrom: err = %v, read = %t", err, called)
	}
	same := []v1alpha1.SecretTransform{{AddKeysFrom: &v1alpha1.AddKeysFromTransform{SecretRef: &v1alpha1.ObjectReference{Namespace: "demo", Name: "extra"}}}}
	if out, err := Transform(map[string][]byte{}, same, "demo", get); err != nil || string(out["password"]) != "s3cret" {
		t.Errorf("same-namespace addKeysFrom: %q, %v", out, err)
	}
	_, err = Transform(map[string][]byte{}, []v1alpha1.SecretTransform{{RenameKey: &v1alpha1.RenameKeyTransform{From: "a", To: "b"}}}, "demo", get)
	if err == nil || !strings.Contains(err.Error(), `secretTransforms[0].renameKey: key "a" not found`) {
		t.Errorf("rename of a missing key: err = %v", err)
	}
}

func TestAddonTasks(t *testing.T) {
	ab := binding(v1alpha1.ClientConfig{})
	ab.Spec.Parameters = &runtime.RawExtension{Raw: []byte(`{"apiVersion":"appcatalog.appscode.com/v1alpha1","kind":"StashAddon",
		"stash":{"addon":{"backupTask":{"name":"mysql-backup-8.0.21","params":[{"name":"args","value":"--all-databases"}]},"restoreTask":{"name":"mysql-restore-8.0.21"}}}}`)}
	b, r, err := AddonTasks(ab)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "mysql-backup-8.0.21" || len(b.Params) != 1 || b.Params[0].Value != "--all-databases" || r.Name != "mysql-restore-8.0.21" {
		t.Errorf("got %+v %+v", b, r)
	}
	ab.Spec.Parameters = nil
	if b, r, err := AddonTasks(ab); err != nil || b.Name != "" || r.Name != "" {
		t.Errorf("no parameters: %+v %+v %v", b, r, err)
	}
}
