package location

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
)

func TestOf(t *testing.T) {
	pvc := func(claim, sub string) *v1alpha1.Backend {
		return &v1alpha1.Backend{Local: &v1alpha1.LocalSpec{MountPath: "/safe/data", SubPath: sub,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	}
	for _, tc := range []struct {
		name      string
		ns        string
		backend   *v1alpha1.Backend
		want      Location
		wantError bool
	}{
		{"s3 default endpoint", "demo", &v1alpha1.Backend{S3: &v1alpha1.S3Spec{Bucket: "b", Prefix: "/demo/mysql/"}}, Location{Store: "s3:s3.amazonaws.com/b", Path: "demo/mysql"}, false},
		{"s3 endpoint with scheme and case", "demo", &v1alpha1.Backend{S3: &v1alpha1.S3Spec{Endpoint: "http://MinIO.demo.svc:9000/", Bucket: "b", Prefix: "x//y"}}, Location{Store: "s3:minio.demo:9000/b", Path: "x/y"}, false},
		{"gcs", "demo", &v1alpha1.Backend{GCS: &v1alpha1.GCSSpec{Bucket: "qa", Prefix: "demo"}}, Location{Store: "gs:qa", Path: "demo"}, false},
		{"azure", "demo", &v1alpha1.Backend{Azure: &v1alpha1.AzureSpec{Container: "c"}}, Location{Store: "azure:c", Path: ""}, false},
		{"swift", "demo", &v1alpha1.Backend{Swift: &v1alpha1.SwiftSpec{Container: "c", Prefix: "p"}}, Location{Store: "swift:c", Path: "p"}, false},
		{"b2", "demo", &v1alpha1.Backend{B2: &v1alpha1.B2Spec{Bucket: "b", Prefix: "p/"}}, Location{Store: "b2:b", Path: "p"}, false},
		{"rest", "demo", &v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "http://Rest-Server.demo.svc:8000/demo/"}}, Location{Store: "rest:rest-server.demo:8000", Path: "demo"}, false},
		{"rest without host", "demo", &v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "/just/a/path"}}, Location{}, true},
		{"pvc is namespaced", "prod", pvc("backups", "mysql/"), Location{Store: "pvc:prod/backups", Path: "mysql"}, false},
		{"hostPath joins path and subPath", "demo", &v1alpha1.Backend{Local: &v1alpha1.LocalSpec{MountPath: "/r", SubPath: "b",
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/a/"}}}}, Location{Store: "hostpath:", Path: "data/a/b"}, false},
		{"nfs", "demo", &v1alpha1.Backend{Local: &v1alpha1.LocalSpec{MountPath: "/r",
			VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "NFS.local", Path: "/exports/x"}}}}, Location{Store: "nfs:nfs.local", Path: "exports/x"}, false},
		{"no provider", "demo", &v1alpha1.Backend{}, Location{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Of(tc.ns, tc.backend)
			if (err != nil) != tc.wantError {
				t.Fatalf("Of() error = %v, want error %t", err, tc.wantError)
			}
			if got.Store != tc.want.Store || got.Path != tc.want.Path {
				t.Errorf("Of() = %+v, want %+v", got, tc.want)
			}
		})
	}
	// The ways of writing one server are one location; Services of two namespaces are two.
	for _, same := range [][]string{
		{"http://minio:9000", "http://minio.demo:9000", "minio.demo.svc:9000", "https://MINIO.demo.svc.cluster.local:9000/"},
		{"https://s3.example", "s3.example:443", "https://s3.example:443/"},
		{"http://10.0.0.1", "http://10.0.0.1:80"},
		{"backup.svc.example.com"},
	} {
		want, _ := Of("demo", &v1alpha1.Backend{S3: &v1alpha1.S3Spec{Endpoint: same[0], Bucket: "b"}})
		for _, e := range same[1:] {
			if got, _ := Of("demo", &v1alpha1.Backend{S3: &v1alpha1.S3Spec{Endpoint: e, Bucket: "b"}}); got.Key() != want.Key() {
				t.Errorf("endpoint %q is %v, and %q is %v", e, got, same[0], want)
			}
		}
	}
	if a, _ := Of("demo", &v1alpha1.Backend{S3: &v1alpha1.S3Spec{Endpoint: "backup.svc.example.com", Bucket: "b"}}); a.Store != "s3:backup.svc.example.com/b" {
		t.Errorf("a host outside the cluster became %v", a)
	}
	restA, _ := Of("a", &v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "http://rest:8000/r"}})
	restB, _ := Of("b", &v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "http://rest:8000/r"}})
	restA2, _ := Of("b", &v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "http://rest.a.svc:8000/r"}})
	if restA.Key() == restB.Key() || restA.Key() != restA2.Key() {
		t.Errorf("REST servers: %v (from a), %v (from b), %v (a's, written in b)", restA, restB, restA2)
	}
	// Jobs of an operator from before hosts had one spelling carry the key of the old one.
	svc, _ := Of("demo", &v1alpha1.Backend{S3: &v1alpha1.S3Spec{Endpoint: "http://minio.demo.svc:9000", Bucket: "b", Prefix: "p"}})
	old := Location{Store: "s3:minio.demo.svc:9000/b", Path: "p"}
	if keys := svc.Keys(); len(keys) != 2 || keys[0] != svc.Key() || keys[1] != old.Key() {
		t.Errorf("Keys() = %v, want %s and %s", keys, svc.Key(), old.Key())
	}
	if plain, _ := Of("a", &v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "http://rest.example:8000/r"}}); len(plain.Keys()) != 1 {
		t.Errorf("a location spelled as before has keys %v", plain.Keys())
	}
	// Two claims of the same name in two namespaces are two volumes.
	a, _ := Of("a", pvc("backups", ""))
	b, _ := Of("b", pvc("backups", ""))
	if a.Key() == b.Key() || a.Overlaps(b) {
		t.Errorf("claims of two namespaces are one location: %v, %v", a, b)
	}
}

func TestOverlaps(t *testing.T) {
	root := Location{Store: "s3:host/b", Path: ""}
	demo := Location{Store: "s3:host/b", Path: "demo"}
	demoMySQL := Location{Store: "s3:host/b", Path: "demo/mysql"}
	demo2 := Location{Store: "s3:host/b", Path: "demo2"}
	other := Location{Store: "s3:host/c", Path: "demo"}
	for _, tc := range []struct {
		a, b Location
		want bool
	}{
		{demo, demo, true},
		{demo, demoMySQL, true},
		{demoMySQL, demo, true},
		{root, demoMySQL, true},
		{demo, demo2, false}, // a shared prefix of characters is not a parent directory
		{demo, other, false},
	} {
		if got := tc.a.Overlaps(tc.b); got != tc.want {
			t.Errorf("%v.Overlaps(%v) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
	if demo.Key() == demo2.Key() || len(demo.Key()) > 63 {
		t.Errorf("keys %q %q", demo.Key(), demo2.Key())
	}
}

func TestSoleWriter(t *testing.T) {
	repo := &v1alpha1.Repository{}
	if !SoleWriter(repo) {
		t.Error("a Repository without the annotation is not Hoard's alone")
	}
	repo.Annotations = map[string]string{AnnotationSharedWithOtherTools: "true"}
	if SoleWriter(repo) {
		t.Error("a Repository shared with other tools is taken as Hoard's alone")
	}
}
