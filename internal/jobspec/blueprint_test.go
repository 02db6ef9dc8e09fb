package jobspec

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
)

func TestExpandBlueprint(t *testing.T) {
	tests := []struct {
		name, typ, in, want string
	}{
		{"group and resource from a kubedb type", "kubedb.com/mysql", "${TARGET_APP_GROUP}|${TARGET_APP_RESOURCE}|${TARGET_APP_TYPE}", "kubedb.com|mysql|kubedb.com/mysql"},
		{"a type without a group is the resource", "mysql", "[${TARGET_APP_GROUP}]${TARGET_APP_RESOURCE}", "[]mysql"},
		{"target identity", "mysql", "${TARGET_API_VERSION} ${TARGET_KIND} ${TARGET_RESOURCE} ${TARGET_NAMESPACE}/${TARGET_NAME} ${TARGET_APP_VERSION}",
			"appcatalog.appscode.com/v1alpha1 AppBinding appbindings team-a/orders 10.11"},
		{"other placeholders wait for the Task, defaults included", "mysql", "${REPOSITORY_NAME} ${x:=y} ${TARGET_NAME:=z} $TARGET_NAME", "${REPOSITORY_NAME} ${x:=y} orders $TARGET_NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ab := &appcatalogv1alpha1.AppBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "team-a"},
				Spec:       appcatalogv1alpha1.AppBindingSpec{Type: tc.typ, Version: "10.11"},
			}
			v := struct {
				S []string `json:"s"`
			}{S: []string{tc.in}}
			if err := ExpandBlueprint(&v, BlueprintVariables(ab)); err != nil {
				t.Fatal(err)
			}
			if v.S[0] != tc.want {
				t.Errorf("got %q, want %q", v.S[0], tc.want)
			}
		})
	}
}
