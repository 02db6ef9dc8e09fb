package location

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
)

func TestCheckLocalBackend(t *testing.T) {
	local := func(v corev1.VolumeSource) *v1alpha1.Backend {
		return &v1alpha1.Backend{StorageSecretName: "s", Local: &v1alpha1.LocalSpec{VolumeSource: v, MountPath: "/repo"}}
	}
	cases := map[string]struct {
		backend *v1alpha1.Backend
		field   string // "" when allowed
	}{
		"pvc":        {local(corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}), ""},
		"nfs":        {local(corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/x"}}), ""},
		"emptyDir":   {local(corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}), ""},
		"gcs":        {&v1alpha1.Backend{StorageSecretName: "s", GCS: &v1alpha1.GCSSpec{Bucket: "b"}}, ""},
		"nil":        {nil, ""},
		"hostPath":   {local(corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}), "spec.backend.local.hostPath"},
		"gitRepo":    {local(corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Repository: "https://example.com/x.git"}}), "spec.backend.local.gitRepo"},
		"flexVolume": {local(corev1.VolumeSource{FlexVolume: &corev1.FlexVolumeSource{Driver: "example.com/x"}}), "spec.backend.local.flexVolume"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckLocalBackend(tc.backend)
			var ue *UnsafeBackendError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.field != "" && !errors.As(err, &ue):
				t.Errorf("accepted, want %s refused", tc.field)
			case tc.field != "" && (ue.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+" is not allowed")):
				t.Errorf("error %q names %q, want %q", err, ue.Field, tc.field)
			}
		})
	}
}

func TestBackend(t *testing.T) {
	cases := map[string]struct {
		backend v1alpha1.Backend
		want    BackendInfo
	}{
		"local": {v1alpha1.Backend{Local: &v1alpha1.LocalSpec{MountPath: "/safe/data"}}, BackendInfo{Provider: "local", Bucket: "/safe/data"}},
		"s3": {v1alpha1.Backend{S3: &v1alpha1.S3Spec{Endpoint: "s3.amazonaws.com", Bucket: "b", Prefix: "/p", Region: "us-east-1"}},
			BackendInfo{Provider: "s3", Bucket: "b", Prefix: "/p", Endpoint: "s3.amazonaws.com", Region: "us-east-1"}},
		"azure": {v1alpha1.Backend{Azure: &v1alpha1.AzureSpec{Container: "c", Prefix: "p", MaxConnections: 3}}, BackendInfo{Provider: "azure", Bucket: "c", Prefix: "p", MaxConnections: 3}},
		"swift": {v1alpha1.Backend{Swift: &v1alpha1.SwiftSpec{Container: "c", Prefix: "p"}}, BackendInfo{Provider: "swift", Bucket: "c", Prefix: "p"}},
		"b2":    {v1alpha1.Backend{B2: &v1alpha1.B2Spec{Bucket: "b", Prefix: "p", MaxConnections: 2}}, BackendInfo{Provider: "b2", Bucket: "b", Prefix: "p", MaxConnections: 2}},
		"rest": {v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "http://rest.demo.svc:8000/stash/demo"}},
			BackendInfo{Provider: "rest", Bucket: "rest.demo.svc:8000", Prefix: "/stash/demo", Endpoint: "http://rest.demo.svc:8000/stash/demo"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Backend(&tc.backend)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := Backend(&v1alpha1.Backend{}); err == nil {
		t.Error("a backend without provider must fail")
	}
	if got, err := Backend(&v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "http://[::1"}}); err == nil || got.Provider != "rest" {
		t.Errorf("a REST URL that does not parse: got %+v, %v; want provider rest and an error", got, err)
	}
}
