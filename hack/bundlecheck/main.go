// Command bundlecheck generates Hoard's OLM bundle and file-based catalog from config/ and
// validates both with operator-framework's own libraries. It stands in for `operator-sdk
// generate bundle`/`bundle validate` and `opm`, whose modules the Go proxy here refuses.
//
//	bundlecheck bundle   -root . -version 0.1.0 -image IMG -out bundle
//	bundlecheck catalog  -bundle bundle -bundle-image IMG -channel alpha -out catalog
//	bundlecheck validate-bundle  bundle
//	bundlecheck validate-catalog catalog
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
	opversion "github.com/operator-framework/api/pkg/lib/version"
	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	apivalidation "github.com/operator-framework/api/pkg/validation"
	verrors "github.com/operator-framework/api/pkg/validation/errors"
	"github.com/operator-framework/operator-registry/alpha/declcfg"
	"github.com/operator-framework/operator-registry/alpha/property"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const packageName = "hoard"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bundlecheck bundle|catalog|validate-bundle|validate-catalog ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bundle":
		err = cmdBundle(os.Args[2:])
	case "catalog":
		err = cmdCatalog(os.Args[2:])
	case "validate-bundle":
		err = cmdValidateBundle(os.Args[2:])
	case "validate-catalog":
		err = cmdValidateCatalog(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bundlecheck:", err)
		os.Exit(1)
	}
}

// readDocs returns every YAML document of a file as unstructured objects.
func readDocs(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

func convert(from any, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func cmdBundle(args []string) error {
	fs := flag.NewFlagSet("bundle", flag.ExitOnError)
	root := fs.String("root", ".", "repository root")
	version := fs.String("version", "0.1.0", "operator version (semver)")
	image := fs.String("image", "ghcr.io/hoard-operator/hoard:dev", "operator image")
	channel := fs.String("channel", "candidate", "OLM channel")
	out := fs.String("out", "bundle", "output directory")
	dockerfile := fs.String("dockerfile", "bundle.Dockerfile", "where to write the bundle image's Dockerfile")
	replaces := fs.String("replaces", "", "the CSV this version upgrades (spec.replaces), e.g. hoard.v0.1.0")
	skipRange := fs.String("skip-range", "", "versions this one upgrades directly (olm.skipRange), e.g. '>=0.1.0 <0.1.1'")
	_ = fs.Parse(args)

	base, err := os.ReadFile(filepath.Join(*root, "config/manifests/bases/hoard.clusterserviceversion.yaml"))
	if err != nil {
		return err
	}
	var csv v1alpha1.ClusterServiceVersion
	if err := yaml.UnmarshalStrict(base, &csv); err != nil {
		return fmt.Errorf("base CSV: %w", err)
	}
	csv.Name = packageName + ".v" + *version
	csv.Namespace = ""
	v, err := semver.Parse(*version)
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	csv.Spec.Version = opversion.OperatorVersion{Version: v}
	csv.Annotations["containerImage"] = *image
	csv.Spec.Replaces = *replaces
	if *skipRange != "" {
		csv.Annotations["olm.skipRange"] = *skipRange
	}

	// alm-examples: one example of every kind, from config/manifests/samples.
	examples, err := readDocs(filepath.Join(*root, "config/manifests/samples/examples.yaml"))
	if err != nil {
		return err
	}
	var exObjs []map[string]any
	for _, e := range examples {
		exObjs = append(exObjs, e.Object)
	}
	almExamples, err := json.MarshalIndent(exObjs, "", "  ")
	if err != nil {
		return err
	}
	csv.Annotations["alm-examples"] = string(almExamples)

	// RBAC from the generated role and the leader election role.
	roles, err := readDocs(filepath.Join(*root, "config/rbac/role.yaml"))
	if err != nil {
		return err
	}
	le, err := readDocs(filepath.Join(*root, "config/rbac/leader_election_role.yaml"))
	if err != nil {
		return err
	}
	const sa = "hoard-controller-manager"
	clusterScoped, err := clusterScopedResources(filepath.Join(*root, "config/crd/bases"), filepath.Join(*root, "config/rbac/cluster-scoped-builtin.txt"))
	if err != nil {
		return err
	}
	// OLM grants clusterPermissions cluster-wide in every install mode, and permissions in each
	// target namespace (as ClusterRoles in AllNamespaces mode). So only the rules on
	// cluster-scoped kinds are clusterPermissions: an OwnNamespace, SingleNamespace or
	// MultiNamespace install is then granted, like it watches, only its target namespaces.
	var clusterRules, nsRules []rbacv1.PolicyRule
	for _, r := range append(roles, le...) {
		var role rbacv1.ClusterRole
		if err := convert(r.Object, &role); err != nil {
			return err
		}
		if r.GetKind() != "ClusterRole" {
			nsRules = append(nsRules, role.Rules...)
			continue
		}
		for _, rule := range role.Rules {
			c, n := splitRule(rule, clusterScoped)
			clusterRules = append(clusterRules, c...)
			nsRules = append(nsRules, n...)
		}
	}

	// The Deployment from config/manager, named as kustomize's namePrefix would.
	mgrDocs, err := readDocs(filepath.Join(*root, "config/manager/manager.yaml"))
	if err != nil {
		return err
	}
	var dep appsv1.Deployment
	for _, d := range mgrDocs {
		if d.GetKind() == "Deployment" {
			if err := convert(d.Object, &dep); err != nil {
				return err
			}
		}
	}
	if dep.Name == "" {
		return errors.New("config/manager/manager.yaml has no Deployment")
	}
	dep.Spec.Template.Spec.ServiceAccountName = sa
	for i := range dep.Spec.Template.Spec.Containers {
		c := &dep.Spec.Template.Spec.Containers[i]
		if c.Name != "manager" {
			continue
		}
		c.Image = *image
		c.Args = append(c.Args, "--operator-image="+*image)
		// A registry+v1 bundle cannot carry a ValidatingAdmissionPolicy (operator-registry's
		// supported kinds): the operator applies the admission guard itself at start.
		c.Args = append(c.Args, "--apply-admission-guard")
		// Helm release records of MySQLAddons go to the operator's namespace, and the
		// operator watches the OperatorGroup's target namespaces ("" is all of them).
		c.Env = setEnv(c.Env, corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}})
		c.Env = setEnv(c.Env, corev1.EnvVar{Name: "WATCH_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['olm.targetNamespaces']"}}})
	}
	csv.Spec.InstallStrategy = v1alpha1.NamedInstallStrategy{
		StrategyName: v1alpha1.InstallStrategyNameDeployment,
		StrategySpec: v1alpha1.StrategyDetailsDeployment{
			DeploymentSpecs:    []v1alpha1.StrategyDeploymentSpec{{Name: "hoard-controller-manager", Label: dep.Labels, Spec: dep.Spec}},
			ClusterPermissions: []v1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: sa, Rules: clusterRules}},
			Permissions:        []v1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: sa, Rules: nsRules}},
		},
	}
	csv.Spec.RelatedImages = []v1alpha1.RelatedImage{{Name: "hoard", Image: *image}}

	// The CRDs, checked against the owned list so a new kind cannot be forgotten in the base.
	manifestsDir := filepath.Join(*out, "manifests")
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	if err := os.MkdirAll(manifestsDir, 0o755); err != nil {
		return err
	}
	owned := map[string]bool{}
	for _, o := range csv.Spec.CustomResourceDefinitions.Owned {
		owned[o.Name] = true
	}
	crdFiles, err := filepath.Glob(filepath.Join(*root, "config/crd/bases/*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(crdFiles)
	for _, f := range crdFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if !owned[crd.Name] {
			return fmt.Errorf("CRD %s is not in the base CSV's owned list (config/manifests/bases)", crd.Name)
		}
		delete(owned, crd.Name)
		if err := os.WriteFile(filepath.Join(manifestsDir, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	for n := range owned {
		return fmt.Errorf("base CSV owns %s but config/crd/bases has no such CRD", n)
	}
	// The exec hooks' ClusterRole (docs/design/0019-hooks.md), named as config/default's
	// namePrefix names it: the operator binds it by that name. OLM installs a bundle's
	// ClusterRoles as they are; the operator is granted only bind on it.
	hookRole, err := readDocs(filepath.Join(*root, "config/rbac/hook_exec_role.yaml"))
	if err != nil {
		return err
	}
	if len(hookRole) != 1 || hookRole[0].GetKind() != "ClusterRole" {
		return errors.New("config/rbac/hook_exec_role.yaml must hold one ClusterRole")
	}
	hookRole[0].SetName("hoard-" + hookRole[0].GetName())
	if err := writeYAML(filepath.Join(manifestsDir, "hoard-hook-exec_rbac.authorization.k8s.io_v1_clusterrole.yaml"), hookRole[0].Object); err != nil {
		return err
	}
	// The metrics Service from config/manager, named as kustomize's namePrefix would: OLM
	// creates a bundle's Services in the install namespace.
	svcDocs, err := readDocs(filepath.Join(*root, "config/manager/metrics-service.yaml"))
	if err != nil {
		return err
	}
	for _, d := range svcDocs {
		if d.GetKind() != "Service" {
			continue
		}
		d.SetName("hoard-" + d.GetName())
		d.SetNamespace("")
		if err := writeYAML(filepath.Join(manifestsDir, d.GetName()+"_v1_service.yaml"), d.Object); err != nil {
			return err
		}
	}
	csvMap := map[string]any{}
	if err := convert(csv, &csvMap); err != nil {
		return err
	}
	delete(csvMap, "status")
	if md, ok := csvMap["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	if err := writeYAML(filepath.Join(manifestsDir, packageName+".clusterserviceversion.yaml"), csvMap); err != nil {
		return err
	}

	annotations := map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         packageName,
		"operators.operatorframework.io.bundle.channels.v1":        *channel,
		"operators.operatorframework.io.bundle.channel.default.v1": *channel,
	}
	if err := os.MkdirAll(filepath.Join(*out, "metadata"), 0o755); err != nil {
		return err
	}
	if err := writeYAML(filepath.Join(*out, "metadata", "annotations.yaml"), map[string]any{"annotations": annotations}); err != nil {
		return err
	}
	var keys []string
	for k := range annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var df strings.Builder
	df.WriteString("# Code generated by `make bundle` (hack/bundlecheck). DO NOT EDIT.\nFROM scratch\n\n")
	for _, k := range keys {
		fmt.Fprintf(&df, "LABEL %s=%s\n", k, annotations[k])
	}
	df.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\n")
	return os.WriteFile(*dockerfile, []byte(df.String()), 0o644)
}

// setEnv sets v in env, replacing a variable of the same name.
func setEnv(env []corev1.EnvVar, v corev1.EnvVar) []corev1.EnvVar {
	for i := range env {
		if env[i].Name == v.Name {
			env[i] = v
			return env
		}
	}
	return append(env, v)
}

// clusterScopedResources returns the plural names of the CRDs in dir whose scope is Cluster,
// and the built-in cluster-scoped resources listed in builtinFile.
func clusterScopedResources(dir, builtinFile string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if crd.Spec.Scope == apiextensionsv1.ClusterScoped {
			out[crd.Spec.Names.Plural] = true
		}
	}
	builtin, err := os.ReadFile(builtinFile)
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(builtin), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out[l] = true
		}
	}
	return out, nil
}

// splitRule splits a rule into its part on cluster-scoped resources (subresources such as
// mysqladdons/status go with their resource) and its part on namespaced ones.
func splitRule(rule rbacv1.PolicyRule, clusterScoped map[string]bool) (cluster, namespaced []rbacv1.PolicyRule) {
	var c, n []string
	for _, res := range rule.Resources {
		if clusterScoped[strings.SplitN(res, "/", 2)[0]] {
			c = append(c, res)
		} else {
			n = append(n, res)
		}
	}
	if len(c) > 0 {
		r := *rule.DeepCopy()
		r.Resources = c
		cluster = append(cluster, r)
	}
	if len(n) > 0 {
		r := *rule.DeepCopy()
		r.Resources = n
		namespaced = append(namespaced, r)
	}
	return cluster, namespaced
}

// cmdValidateBundle runs the validators of operator-sdk's operatorframework suite.
func cmdValidateBundle(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: validate-bundle DIR")
	}
	bundle, err := manifests.GetBundleFromDir(args[0])
	if err != nil {
		return fmt.Errorf("load bundle: %w", err)
	}
	validators := apivalidation.DefaultBundleValidators.WithValidators(
		apivalidation.OperatorHubV2Validator,
		apivalidation.ObjectValidator,
		apivalidation.GoodPracticesValidator,
		apivalidation.AlphaDeprecatedAPIsValidator,
	)
	results := validators.Validate(bundle, bundle.CSV, bundle.V1CRDs)
	return report("bundle "+args[0], results, func(r verrors.ManifestResult) []verrors.Error { return r.Errors }, func(r verrors.ManifestResult) []verrors.Error { return r.Warnings })
}

func report(what string, results []verrors.ManifestResult, errsOf, warnsOf func(verrors.ManifestResult) []verrors.Error) error {
	nErr := 0
	for _, r := range results {
		for _, w := range warnsOf(r) {
			fmt.Printf("WARN  %s: %s\n", r.Name, w.Error())
		}
		for _, e := range errsOf(r) {
			fmt.Printf("ERROR %s: %s\n", r.Name, e.Error())
			nErr++
		}
	}
	if nErr > 0 {
		return fmt.Errorf("%s: %d validation errors", what, nErr)
	}
	fmt.Printf("%s: valid\n", what)
	return nil
}

// cmdCatalog renders bundles into a file-based catalog the way `opm render` + an olm.channel
// would: package, channel (each bundle an entry with the replaces and skipRange of its CSV)
// and each bundle carrying its objects and properties. -bundle and -bundle-image take
// comma-separated lists, one image per bundle directory.
func cmdCatalog(args []string) error {
	fs := flag.NewFlagSet("catalog", flag.ExitOnError)
	bundleDirs := fs.String("bundle", "bundle", "bundle directories, comma-separated")
	bundleImages := fs.String("bundle-image", "ghcr.io/hoard-operator/hoard-bundle:v0.1.0", "bundle image references, comma-separated, one per bundle")
	channel := fs.String("channel", "candidate", "channel")
	out := fs.String("out", "catalog", "output directory (the catalog's root)")
	_ = fs.Parse(args)

	dirs, images := strings.Split(*bundleDirs, ","), strings.Split(*bundleImages, ",")
	if len(dirs) != len(images) {
		return fmt.Errorf("%d bundle directories but %d bundle images", len(dirs), len(images))
	}
	cfg := declcfg.DeclarativeConfig{Channels: []declcfg.Channel{{Schema: declcfg.SchemaChannel, Package: packageName, Name: *channel}}}
	for i, dir := range dirs {
		b, bundle, err := renderBundle(dir, images[i])
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if i == 0 {
			if len(b.CSV.Spec.Icon) == 0 {
				return errors.New("the CSV has no icon")
			}
			iconData, err := base64.StdEncoding.DecodeString(b.CSV.Spec.Icon[0].Data)
			if err != nil {
				return fmt.Errorf("CSV icon: %w", err)
			}
			cfg.Packages = []declcfg.Package{{
				Schema:         declcfg.SchemaPackage,
				Name:           packageName,
				DefaultChannel: *channel,
				Description:    b.CSV.Spec.Description,
				Icon:           &declcfg.Icon{Data: iconData, MediaType: b.CSV.Spec.Icon[0].MediaType},
			}}
		}
		cfg.Channels[0].Entries = append(cfg.Channels[0].Entries, declcfg.ChannelEntry{
			Name: b.CSV.Name, Replaces: b.CSV.Spec.Replaces, SkipRange: b.CSV.Annotations["olm.skipRange"],
		})
		cfg.Bundles = append(cfg.Bundles, bundle)
	}
	dir := filepath.Join(*out, packageName)
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "catalog.yaml"))
	if err != nil {
		return err
	}
	defer f.Close()
	return declcfg.WriteYAML(cfg, f)
}

// renderBundle reads a bundle directory into an olm.bundle entry with image bundleImage.
func renderBundle(bundleDir, bundleImage string) (*manifests.Bundle, declcfg.Bundle, error) {
	b, err := manifests.GetBundleFromDir(bundleDir)
	if err != nil {
		return nil, declcfg.Bundle{}, err
	}
	props := []property.Property{property.MustBuildPackage(packageName, b.CSV.Spec.Version.String())}
	for _, crd := range b.V1CRDs {
		for _, v := range crd.Spec.Versions {
			if v.Served {
				props = append(props, property.MustBuildGVK(crd.Spec.Group, v.Name, crd.Spec.Names.Kind))
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(bundleDir, "manifests"))
	if err != nil {
		return nil, declcfg.Bundle{}, err
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(bundleDir, "manifests", e.Name()))
		if err != nil {
			return nil, declcfg.Bundle{}, err
		}
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, declcfg.Bundle{}, err
		}
		props = append(props, property.MustBuildBundleObject(j))
	}
	relatedImages := []declcfg.RelatedImage{{Name: "", Image: bundleImage}}
	for _, ri := range b.CSV.Spec.RelatedImages {
		relatedImages = append(relatedImages, declcfg.RelatedImage{Name: ri.Name, Image: ri.Image})
	}
	return b, declcfg.Bundle{
		Schema:        declcfg.SchemaBundle,
		Name:          b.CSV.Name,
		Package:       packageName,
		Image:         bundleImage,
		Properties:    props,
		RelatedImages: relatedImages,
	}, nil
}

// cmdValidateCatalog loads the catalog as opm does and builds its model, which checks
// package/channel/bundle references, upgrade graph, versions and properties.
func cmdValidateCatalog(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: validate-catalog DIR")
	}
	cfg, err := declcfg.LoadFS(context.Background(), os.DirFS(args[0]))
	if err != nil {
		return fmt.Errorf("load catalog: %w", err)
	}
	m, err := declcfg.ConvertToModel(*cfg)
	if err != nil {
		return fmt.Errorf("catalog model: %w", err)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("catalog invalid: %w", err)
	}
	for _, b := range cfg.Bundles {
		if b.CsvJSON == "" {
			return fmt.Errorf("bundle %s carries no CSV object", b.Name)
		}
	}
	fmt.Printf("catalog %s: valid (%d packages, %d channels, %d bundles)\n", args[0], len(cfg.Packages), len(cfg.Channels), len(cfg.Bundles))
	return nil
}
