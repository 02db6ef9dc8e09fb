package jobspec

import (
	"strconv"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/result"
)

// Hostname is the snapshot host for a target alias.
func Hostname(alias string) string {
	if alias != "" {
		return alias
	}
	return result.DefaultHostname
}

// implicitVariables computes the operator-provided variables of the reference's table.
func implicitVariables(in *Input, backend location.BackendInfo) map[string]string {
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
		"PROMETHEUS_JOB_NAME":    names.PushgatewayJob(in.Invoker.Kind, in.Namespace, in.Invoker.Name),
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
		if in.ScheduleInterval > 0 {
			v["SCHEDULE_INTERVAL"] = strconv.FormatInt(int64(in.ScheduleInterval/time.Second), 10) + "s"
		}
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
