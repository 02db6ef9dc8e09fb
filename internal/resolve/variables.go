package resolve

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/restic"
)

// DefaultHostname is the snapshot host of a target without an alias.
const DefaultHostname = "host-0"

// BackendInfo is what the implicit REPOSITORY_* variables say about a backend.
type BackendInfo struct {
	Provider       string
	Bucket         string
	Prefix         string
	Endpoint       string
	Region         string
	MaxConnections int64
}

// Backend describes the Repository's one provider. It fails when no provider is set, which
// the CRD already forbids; the check guards objects written before validation existed.
func Backend(b *v1alpha1.Backend) (BackendInfo, error) {
	switch {
	case b.Local != nil:
		return BackendInfo{Provider: restic.ProviderLocal, Bucket: b.Local.MountPath}, nil
	case b.S3 != nil:
		return BackendInfo{Provider: restic.ProviderS3, Bucket: b.S3.Bucket, Prefix: b.S3.Prefix, Endpoint: b.S3.Endpoint, Region: b.S3.Region}, nil
	case b.GCS != nil:
		return BackendInfo{Provider: restic.ProviderGCS, Bucket: b.GCS.Bucket, Prefix: b.GCS.Prefix, MaxConnections: b.GCS.MaxConnections}, nil
	case b.Azure != nil:
		return BackendInfo{Provider: restic.ProviderAzure, Bucket: b.Azure.Container, Prefix: b.Azure.Prefix, MaxConnections: b.Azure.MaxConnections}, nil
	case b.Swift != nil:
		return BackendInfo{Provider: restic.ProviderSwift, Bucket: b.Swift.Container, Prefix: b.Swift.Prefix}, nil
	case b.B2 != nil:
		return BackendInfo{Provider: restic.ProviderB2, Bucket: b.B2.Bucket, Prefix: b.B2.Prefix, MaxConnections: b.B2.MaxConnections}, nil
	case b.Rest != nil:
		u, err := url.Parse(b.Rest.URL)
		if err != nil {
			return BackendInfo{}, fmt.Errorf("spec.backend.rest.url %q is not a URL: %w", b.Rest.URL, err)
		}
		return BackendInfo{Provider: restic.ProviderRest, Bucket: u.Host, Prefix: u.Path, Endpoint: b.Rest.URL}, nil
	}
	return BackendInfo{}, fmt.Errorf("spec.backend sets no provider (local, s3, gcs, azure, swift, b2 or rest)")
}

// Hostname is the snapshot host for a target alias.
func Hostname(alias string) string {
	if alias != "" {
		return alias
	}
	return DefaultHostname
}

// PrometheusJobName is the Pushgateway job name upstream Stash used for an invoker.
func PrometheusJobName(invokerKind, namespace, invokerName string) string {
	return strings.ToLower(invokerKind) + "-" + namespace + "-" + invokerName
}

// implicitVariables computes the operator-provided variables of the reference's table.
func implicitVariables(in *Input, backend BackendInfo) map[string]string {
	v := map[string]string{
		"NAMESPACE":              in.Namespace,
		"REPOSITORY_NAME":        in.Repository.Name,
		"REPOSITORY_PROVIDER":    backend.Provider,
		"REPOSITORY_SECRET_NAME": in.StorageSecretName(),
		"REPOSITORY_BUCKET":      backend.Bucket,
		"REPOSITORY_PREFIX":      backend.Prefix,
		"REPOSITORY_ENDPOINT":    backend.Endpoint,
		"REPOSITORY_REGION":      backend.Region,
		"MAX_CONNECTIONS":        strconv.FormatInt(backend.MaxConnections, 10),
		"HOSTNAME":               Hostname(in.Target.Alias),
		"TARGET_NAME":            in.Target.Ref.Name,
		"TARGET_KIND":            in.Target.Ref.Kind,
		"TARGET_NAMESPACE":       in.Namespace,
		"TARGET_API_VERSION":     in.Target.Ref.APIVersion,
		"TARGET_PATHS":           strings.Join(in.Target.Paths, ","),
		"INVOKER_KIND":           in.Invoker.Kind,
		"INVOKER_NAME":           in.Invoker.Name,
		"ENABLE_CACHE":           strconv.FormatBool(!in.TempDir.DisableCaching),
		"PROMETHEUS_JOB_NAME":    PrometheusJobName(in.Invoker.Kind, in.Namespace, in.Invoker.Name),
		"REPOSITORY_SOLE_WRITER": strconv.FormatBool(in.SoleWriter),
	}
	if len(in.Target.VolumeMounts) > 0 {
		v["TARGET_MOUNT_PATH"] = in.Target.VolumeMounts[0].MountPath
	}
	if in.PushgatewayURL != "" {
		v["PROMETHEUS_PUSHGATEWAY_URL"] = in.PushgatewayURL
	}
	if in.InterimVolume != nil {
		v["INTERIM_DATA_DIR"] = InterimDataDir
	}
	switch in.Kind {
	case KindBackup:
		v["BACKUP_SESSION"] = in.SessionName
		retentionVariables(v, in.RetentionPolicy)
	case KindRestore:
		v["RESTORE_SESSION"] = in.SessionName
		if r := in.RestoreRule; r != nil {
			v["SOURCE_HOSTNAME"] = r.SourceHost
			v["RESTORE_PATHS"] = strings.Join(r.Paths, ",")
			v["RESTORE_SNAPSHOTS"] = strings.Join(r.Snapshots, ",")
			v["INCLUDE_PATTERNS"] = strings.Join(r.Include, ",")
			v["EXCLUDE_PATTERNS"] = strings.Join(r.Exclude, ",")
		}
	}
	if c := in.RuntimeSettings.Container; c != nil {
		if c.Nice != nil && c.Nice.Adjustment != nil {
			v["NICE_ADJUSTMENT"] = strconv.Itoa(int(*c.Nice.Adjustment))
		}
		if c.IONice != nil && c.IONice.Class != nil {
			v["IONICE_CLASS"] = strconv.Itoa(int(*c.IONice.Class))
		}
		if c.IONice != nil && c.IONice.ClassData != nil {
			v["IONICE_CLASS_DATA"] = strconv.Itoa(int(*c.IONice.ClassData))
		}
	}
	return v
}

func retentionVariables(v map[string]string, p v1alpha1.RetentionPolicy) {
	keep := map[string]int64{
		"RETENTION_KEEP_LAST":    p.KeepLast,
		"RETENTION_KEEP_HOURLY":  p.KeepHourly,
		"RETENTION_KEEP_DAILY":   p.KeepDaily,
		"RETENTION_KEEP_WEEKLY":  p.KeepWeekly,
		"RETENTION_KEEP_MONTHLY": p.KeepMonthly,
		"RETENTION_KEEP_YEARLY":  p.KeepYearly,
	}
	for name, n := range keep {
		if n > 0 {
			v[name] = strconv.FormatInt(n, 10)
		}
	}
	if len(p.KeepTags) > 0 {
		v["RETENTION_KEEP_TAGS"] = strings.Join(p.KeepTags, ",")
	}
	if p.Prune {
		v["RETENTION_PRUNE"] = "true"
	}
	if p.DryRun {
		v["RETENTION_DRY_RUN"] = "true"
	}
}

// SelectRule picks the restore rule for host: target.rules when set, else the deprecated
// spec.rules; the first rule whose targetHosts is empty or names host. The rule's defaults
// are filled in: sourceHost is host, snapshots is [latest].
func SelectRule(targetRules, deprecatedRules []v1beta1.Rule, host string) *v1beta1.Rule {
	rules := targetRules
	if len(rules) == 0 {
		rules = deprecatedRules
	}
	var picked v1beta1.Rule
	for _, r := range rules {
		if len(r.TargetHosts) == 0 || contains(r.TargetHosts, host) {
			picked = *r.DeepCopy()
			break
		}
	}
	if picked.SourceHost == "" {
		picked.SourceHost = host
	}
	if len(picked.Snapshots) == 0 {
		picked.Snapshots = []string{"latest"}
	}
	return &picked
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
