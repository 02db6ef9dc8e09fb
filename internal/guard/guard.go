// Package guard is Hoard's admission guard as the operator sees it: the ValidatingAdmissionPolicy
// and binding that the chart and config/ ship (helm-charts/hoard/files/admission-guard.yaml,
// made from config/guard), decoded, and applied by the operator itself where the install
// method cannot ship them (OLM). See docs/design/0013-admission-guard.md.
package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	helmcharts "github.com/hoard-operator/hoard/helm-charts"
)

// RelaxLabel on a namespace, with the value RelaxValue, turns the guard off for the objects in
// that namespace (the binding's namespaceSelector).
const (
	RelaxLabel = "hoard.io/admission-guard"
	RelaxValue = "relaxed"
)

// FieldOwner is the server-side apply field manager of the operator's copy.
const FieldOwner = "hoard-admission-guard"

// Objects returns the policy and its binding as shipped.
func Objects() (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding, error) {
	var (
		policy  *admissionv1.ValidatingAdmissionPolicy
		binding *admissionv1.ValidatingAdmissionPolicyBinding
	)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(helmcharts.AdmissionGuard), 4096)
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, fmt.Errorf("failed to read the admission guard: %w", err)
		}
		if raw == nil {
			continue
		}
		// Decode again as the kind the document declares, refusing unknown fields, so that a typo
		// in the shipped YAML fails here instead of being dropped.
		doc, err := json.Marshal(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to read the admission guard: %w", err)
		}
		switch raw["kind"] {
		case "ValidatingAdmissionPolicy":
			policy = &admissionv1.ValidatingAdmissionPolicy{}
			if err := yaml.UnmarshalStrict(doc, policy); err != nil {
				return nil, nil, fmt.Errorf("failed to decode the admission guard's policy: %w", err)
			}
		case "ValidatingAdmissionPolicyBinding":
			binding = &admissionv1.ValidatingAdmissionPolicyBinding{}
			if err := yaml.UnmarshalStrict(doc, binding); err != nil {
				return nil, nil, fmt.Errorf("failed to decode the admission guard's binding: %w", err)
			}
		default:
			return nil, nil, fmt.Errorf("the admission guard holds an unexpected %v", raw["kind"])
		}
	}
	if policy == nil || binding == nil {
		return nil, nil, errors.New("the admission guard lacks its policy or its binding")
	}
	return policy, binding, nil
}

// Apply needs these only where the operator applies the guard itself (--apply-admission-guard,
// set by the OLM bundle): create for the first start, patch of the two objects' name after.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicies;validatingadmissionpolicybindings,verbs=create
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicies;validatingadmissionpolicybindings,verbs=patch,resourceNames=hoard-admission-guard

// Apply creates or updates the policy and its binding with server-side apply. It is used when
// the install method could not ship them (OLM): the guard is on by default there too.
func Apply(ctx context.Context, c client.Client) error {
	policy, binding, err := Objects()
	if err != nil {
		return err
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := c.Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(FieldOwner)); err != nil {
			return fmt.Errorf("failed to apply %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
	}
	return nil
}
