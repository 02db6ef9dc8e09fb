package restic

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/result"
)

// Providers of a Stash Repository backend.
const (
	ProviderLocal = "local"
	ProviderS3    = "s3"
	ProviderGCS   = "gcs"
	ProviderAzure = "azure"
	ProviderSwift = "swift"
	ProviderB2    = "b2"
	ProviderRest  = "rest"
)

// Keys of the storage Secret, as upstream Stash named them.
const (
	KeyResticPassword           = result.PasswordKey
	KeyCACertData               = "CA_CERT_DATA"
	KeyAWSAccessKeyID           = "AWS_ACCESS_KEY_ID"
	KeyAWSSecretAccessKey       = "AWS_SECRET_ACCESS_KEY"
	KeyAWSSessionToken          = "AWS_SESSION_TOKEN"
	KeyGoogleProjectID          = "GOOGLE_PROJECT_ID"
	KeyGoogleServiceAccountJSON = "GOOGLE_SERVICE_ACCOUNT_JSON_KEY"
	KeyAzureAccountName         = "AZURE_ACCOUNT_NAME"
	KeyAzureAccountKey          = "AZURE_ACCOUNT_KEY"
	KeyAzureAccountSAS          = "AZURE_ACCOUNT_SAS"
	KeyAzureEndpointSuffix      = "AZURE_ENDPOINT_SUFFIX"
	KeyB2AccountID              = "B2_ACCOUNT_ID"
	KeyB2AccountKey             = "B2_ACCOUNT_KEY"
	KeyRestServerUsername       = "REST_SERVER_USERNAME"
	KeyRestServerPassword       = "REST_SERVER_PASSWORD"
)

// swiftKeys are passed through unchanged: Swift authenticates with either the v1 ST_* triple
// or the OpenStack (keystone) OS_* variables.
var swiftKeys = []string{
	"ST_AUTH", "ST_USER", "ST_KEY",
	"OS_AUTH_URL", "OS_REGION_NAME", "OS_USERNAME", "OS_USER_ID", "OS_PASSWORD",
	"OS_TENANT_ID", "OS_TENANT_NAME", "OS_USER_DOMAIN_NAME", "OS_USER_DOMAIN_ID",
	"OS_PROJECT_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_PROJECT_DOMAIN_ID", "OS_TRUST_ID",
	"OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_NAME",
	"OS_APPLICATION_CREDENTIAL_SECRET", "OS_STORAGE_URL", "OS_AUTH_TOKEN",
}

// Config describes one repository, as the operator passes it to a Job (the Function's
// --provider/--bucket/--endpoint/--region/--path/--max-connections flags) plus where the Job
// keeps its files.
type Config struct {
	Provider string
	// Bucket is the bucket (s3, gcs, b2), the container (azure, swift), the mount path of the
	// repository volume (local) or the URL host (rest, unused).
	Bucket   string
	Endpoint string
	Region   string
	Prefix   string
	// MaxConnections becomes -o <backend>.connections=N when positive.
	MaxConnections int
	// SecretDir holds the storage Secret, one file per key.
	SecretDir string
	// CacheDir enables restic's local cache there; empty means --no-cache.
	CacheDir string
	// RetryLock makes restic wait that long for a lock held by someone else.
	RetryLock time.Duration
}

// Setup is everything restic needs to reach one repository: its environment and the global
// flags every command gets.
type Setup struct {
	// Repository is the RESTIC_REPOSITORY value. For rest it carries the credentials.
	Repository string
	// Env holds the variables for restic, RESTIC_REPOSITORY and RESTIC_PASSWORD included.
	Env map[string]string
	// Flags are the global flags, in a fixed order.
	Flags []string
	// Secrets are credential values that must never be shown; callers scrub output with them.
	Secrets []string
}

// NewSetup maps a repository spec and its Secret to restic's environment, as upstream Stash did.
func NewSetup(cfg Config) (*Setup, error) {
	sec, err := ReadSecretDir(cfg.SecretDir)
	if err != nil {
		return nil, err
	}
	s := &Setup{Env: map[string]string{}}
	password, err := sec.require(KeyResticPassword)
	if err != nil {
		return nil, err
	}
	// The password is used byte for byte (no trimming) because restic derives the key from
	// it: repositories created by upstream Stash used the raw Secret value.
	s.Env[KeyResticPassword] = password
	s.addSecret(password)

	optPrefix := ""
	switch cfg.Provider {
	case ProviderLocal:
		if cfg.Bucket == "" {
			return nil, fmt.Errorf("local backend needs the repository mount path (--bucket)")
		}
		s.Repository = filepath.Join(cfg.Bucket, cfg.Prefix)
		optPrefix = "local"
	case ProviderS3:
		if cfg.Bucket == "" {
			return nil, fmt.Errorf("s3 backend needs a bucket")
		}
		endpoint := strings.TrimSuffix(cfg.Endpoint, "/")
		if endpoint == "" {
			endpoint = "s3.amazonaws.com"
		}
		s.Repository = "s3:" + endpoint + "/" + joinBucket(cfg.Bucket, cfg.Prefix)
		if err := s.pair(sec, KeyAWSAccessKeyID, KeyAWSSecretAccessKey); err != nil {
			return nil, err
		}
		s.optional(sec, KeyAWSSessionToken, true)
		if cfg.Region != "" {
			s.Env["AWS_DEFAULT_REGION"] = cfg.Region
		}
		optPrefix = "s3"
	case ProviderGCS:
		if cfg.Bucket == "" {
			return nil, fmt.Errorf("gcs backend needs a bucket")
		}
		s.Repository = "gs:" + cfg.Bucket + ":/" + cleanPrefix(cfg.Prefix)
		project, err := sec.require(KeyGoogleProjectID)
		if err != nil {
			return nil, err
		}
		s.Env[KeyGoogleProjectID] = project
		// The key is already a file in the mounted Secret; restic reads it from there.
		if sec.has(KeyGoogleServiceAccountJSON) {
			s.Env["GOOGLE_APPLICATION_CREDENTIALS"] = sec.path(KeyGoogleServiceAccountJSON)
		}
		optPrefix = "gs"
	case ProviderAzure:
		if cfg.Bucket == "" {
			return nil, fmt.Errorf("azure backend needs a container")
		}
		s.Repository = "azure:" + cfg.Bucket + ":/" + cleanPrefix(cfg.Prefix)
		name, err := sec.require(KeyAzureAccountName)
		if err != nil {
			return nil, err
		}
		s.Env[KeyAzureAccountName] = name
		if !sec.has(KeyAzureAccountKey) && !sec.has(KeyAzureAccountSAS) {
			return nil, sec.missing(KeyAzureAccountKey)
		}
		s.optional(sec, KeyAzureAccountKey, true)
		s.optional(sec, KeyAzureAccountSAS, true)
		s.optional(sec, KeyAzureEndpointSuffix, false)
		optPrefix = "azure"
	case ProviderSwift:
		if cfg.Bucket == "" {
			return nil, fmt.Errorf("swift backend needs a container")
		}
		s.Repository = "swift:" + cfg.Bucket + ":/" + cleanPrefix(cfg.Prefix)
		if !sec.has("ST_AUTH") && !sec.has("OS_AUTH_URL") && !sec.has("OS_STORAGE_URL") {
			return nil, fmt.Errorf("storage secret %s has none of the keys ST_AUTH, OS_AUTH_URL or OS_STORAGE_URL: the swift backend needs one to authenticate", sec.dir)
		}
		for _, k := range swiftKeys {
			s.optional(sec, k, k == "ST_KEY" || k == "OS_PASSWORD" || k == "OS_AUTH_TOKEN" || k == "OS_APPLICATION_CREDENTIAL_SECRET")
		}
		optPrefix = "swift"
	case ProviderB2:
		if cfg.Bucket == "" {
			return nil, fmt.Errorf("b2 backend needs a bucket")
		}
		s.Repository = "b2:" + cfg.Bucket + ":/" + cleanPrefix(cfg.Prefix)
		for _, k := range []string{KeyB2AccountID, KeyB2AccountKey} {
			v, err := sec.require(k)
			if err != nil {
				return nil, err
			}
			s.Env[k] = v
		}
		s.addSecret(s.Env[KeyB2AccountKey])
		optPrefix = "b2"
	case ProviderRest:
		repo, err := restRepository(cfg.Endpoint, sec)
		if err != nil {
			return nil, err
		}
		s.Repository = repo
		if u, err := url.Parse(strings.TrimPrefix(repo, "rest:")); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				s.addSecret(p)
				// As written in the URL, and as a basic auth header carries it (in base64).
				s.addSecret(u.User.String())
				s.addSecret(u.User.Username() + ":" + p)
			}
		}
		optPrefix = "rest"
	case "":
		return nil, fmt.Errorf("no repository provider given")
	default:
		return nil, fmt.Errorf("unknown repository provider %q (want one of local, s3, gcs, azure, swift, b2, rest)", cfg.Provider)
	}
	s.Env["RESTIC_REPOSITORY"] = s.Repository

	if sec.has(KeyCACertData) {
		s.Flags = append(s.Flags, "--cacert", sec.path(KeyCACertData))
	}
	if cfg.CacheDir != "" {
		s.Flags = append(s.Flags, "--cache-dir", cfg.CacheDir)
	} else {
		s.Flags = append(s.Flags, "--no-cache")
	}
	if cfg.RetryLock > 0 {
		s.Flags = append(s.Flags, "--retry-lock", cfg.RetryLock.String())
	}
	if cfg.MaxConnections > 0 {
		s.Flags = append(s.Flags, "-o", optPrefix+".connections="+strconv.Itoa(cfg.MaxConnections))
	}
	return s, nil
}

// Environ returns Env as KEY=value pairs in sorted order.
func (s *Setup) Environ() []string {
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+s.Env[k])
	}
	return out
}

func (s *Setup) addSecret(v string) {
	if v != "" {
		s.Secrets = append(s.Secrets, v)
	}
}

// optional copies key into the environment when the Secret has it.
func (s *Setup) optional(sec *Secret, key string, secret bool) {
	if v, ok := sec.get(key); ok {
		s.Env[key] = v
		if secret {
			s.addSecret(v)
		}
	}
}

// pair copies an id/secret pair that may be absent as a whole (workload identity), but not half.
func (s *Setup) pair(sec *Secret, id, key string) error {
	switch {
	case sec.has(id) && !sec.has(key):
		return sec.missing(key)
	case !sec.has(id) && sec.has(key):
		return sec.missing(id)
	}
	s.optional(sec, id, false)
	s.optional(sec, key, true)
	return nil
}

func restRepository(endpoint string, sec *Secret) (string, error) {
	if endpoint == "" {
		return "", fmt.Errorf("rest backend needs the REST server URL (--endpoint)")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("rest backend URL %q is not an absolute http(s) URL", endpoint)
	}
	user, hasUser := sec.get(KeyRestServerUsername)
	pass, hasPass := sec.get(KeyRestServerPassword)
	switch {
	case hasUser && hasPass && user == "" && pass == "":
		// Empty keys, as some manifests carry them: no credentials.
	case hasUser && hasPass:
		u.User = url.UserPassword(user, pass)
	case hasUser:
		return "", sec.missing(KeyRestServerPassword)
	case hasPass:
		return "", sec.missing(KeyRestServerUsername)
	}
	return "rest:" + u.String(), nil
}

// joinBucket joins an S3 bucket and prefix as a path: "b" + "/x/y/" -> "b/x/y".
func joinBucket(bucket, prefix string) string {
	p := cleanPrefix(prefix)
	if p == "" {
		return strings.Trim(bucket, "/")
	}
	return strings.Trim(bucket, "/") + "/" + p
}

// cleanPrefix removes leading and trailing slashes; restic does the same when parsing, so the
// repository is the one upstream Stash wrote to.
func cleanPrefix(p string) string {
	if p == "" {
		return ""
	}
	return strings.Trim(path.Clean("/"+p), "/")
}
