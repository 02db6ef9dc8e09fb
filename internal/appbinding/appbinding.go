// Package appbinding turns an AppBinding into what a backup Job needs to reach the database:
// host, port, credentials (after the binding's secretTransforms) and the CA bundle. The
// operator writes the result into a per-session Secret that the Job mounts, so the Job itself
// needs no Kubernetes API access.
package appbinding

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
)

// Keys of the connection Secret, one file each in the Job's target directory.
const (
	KeyHost                  = "host"
	KeyPort                  = "port"
	KeyUsername              = "username"
	KeyPassword              = "password"
	KeyCACert                = "ca.crt"
	KeyInsecureSkipTLSVerify = "insecure-skip-tls-verify"
)

// DefaultMySQLPort is used when neither the service nor the URL names a port.
const DefaultMySQLPort = 3306

// SecretGetter returns the data of a Secret, for addKeysFrom transforms.
type SecretGetter func(namespace, name string) (map[string][]byte, error)

// Connection computes the connection Secret data for ab. secret is the data of
// spec.secret (nil when the binding names none).
func Connection(ab *v1alpha1.AppBinding, secret map[string][]byte, get SecretGetter) (map[string][]byte, error) {
	host, port, err := Address(ab)
	if err != nil {
		return nil, err
	}
	data, err := Transform(secret, ab.Spec.SecretTransforms, ab.Namespace, get)
	if err != nil {
		return nil, fmt.Errorf("AppBinding %s/%s: %w", ab.Namespace, ab.Name, err)
	}
	out := map[string][]byte{
		KeyHost: []byte(host),
		KeyPort: []byte(strconv.Itoa(port)),
	}
	for _, k := range []string{KeyUsername, KeyPassword} {
		v, ok := data[k]
		if !ok {
			name := "<none>"
			if ab.Spec.Secret != nil {
				name = ab.Spec.Secret.Name
			}
			return nil, fmt.Errorf("AppBinding %s/%s: Secret %s has no key %q (after secretTransforms)", ab.Namespace, ab.Name, name, k)
		}
		out[k] = v
	}
	if len(ab.Spec.ClientConfig.CABundle) > 0 {
		out[KeyCACert] = ab.Spec.ClientConfig.CABundle
	}
	if ab.Spec.ClientConfig.InsecureSkipTLSVerify {
		out[KeyInsecureSkipTLSVerify] = []byte("true")
	}
	return out, nil
}

// Address is the database's host and port: the Service in the binding's namespace, else the
// URL. URLs may be Go MySQL DSN addresses (`tcp(host:port)/`) or URLs (`mysql://host:port`).
func Address(ab *v1alpha1.AppBinding) (string, int, error) {
	cc := ab.Spec.ClientConfig
	if s := cc.Service; s != nil {
		port := int(s.Port)
		if port == 0 {
			port = DefaultMySQLPort
		}
		return s.Name + "." + ab.Namespace + ".svc", port, nil
	}
	if cc.URL != nil && *cc.URL != "" {
		return parseURL(*cc.URL)
	}
	return "", 0, fmt.Errorf("AppBinding %s/%s: spec.clientConfig sets neither service nor url", ab.Namespace, ab.Name)
}

func parseURL(raw string) (string, int, error) {
	var addr string
	if i := strings.Index(raw, "tcp("); i >= 0 {
		end := strings.IndexByte(raw[i:], ')')
		if end < 0 {
			return "", 0, fmt.Errorf("url %q: unterminated tcp(", raw)
		}
		addr = raw[i+4 : i+end]
	} else if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", 0, fmt.Errorf("url %q: %w", raw, err)
		}
		addr = u.Host
	} else {
		addr = strings.SplitN(raw, "/", 2)[0]
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		// No port given.
		if addr == "" {
			return "", 0, fmt.Errorf("url %q names no host", raw)
		}
		return strings.Trim(addr, "[]"), DefaultMySQLPort, nil
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("url %q: invalid port %q", raw, portStr)
	}
	return host, port, nil
}

// Transform applies secretTransforms to a copy of data, in order.
func Transform(data map[string][]byte, transforms []v1alpha1.SecretTransform, namespace string, get SecretGetter) (map[string][]byte, error) {
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		out[k] = v
	}
	for i, t := range transforms {
		switch {
		case t.RenameKey != nil:
			v, ok := out[t.RenameKey.From]
			if !ok {
				return nil, fmt.Errorf("secretTransforms[%d].renameKey: key %q not found", i, t.RenameKey.From)
			}
			delete(out, t.RenameKey.From)
			out[t.RenameKey.To] = v
		case t.AddKey != nil:
			if t.AddKey.StringValue != nil {
				out[t.AddKey.Key] = []byte(*t.AddKey.StringValue)
			} else {
				out[t.AddKey.Key] = t.AddKey.Value
			}
		case t.AddKeysFrom != nil:
			ref := t.AddKeysFrom.SecretRef
			if ref == nil || ref.Name == "" {
				return nil, fmt.Errorf("secretTransforms[%d].addKeysFrom names no Secret", i)
			}
			// The operator may read Secrets everywhere; a user of one namespace must not
			// borrow that to copy another namespace's Secret into a session of theirs. The
			// refusal does not say whether that Secret exists.
			if ref.Namespace != "" && ref.Namespace != namespace {
				return nil, fmt.Errorf("secretTransforms[%d].addKeysFrom.secretRef.namespace %q: a Secret of another namespace is not read (the AppBinding is in %q)", i, ref.Namespace, namespace)
			}
			extra, err := get(namespace, ref.Name)
			if err != nil {
				return nil, fmt.Errorf("secretTransforms[%d].addKeysFrom: %w", i, err)
			}
			for k, v := range extra {
				out[k] = v
			}
		case t.RemoveKey != nil:
			delete(out, t.RemoveKey.Key)
		}
	}
	return out, nil
}

// AddonTasks reads the StashAddon parameters of an AppBinding: the backup and restore Task
// names and params. Empty names mean the binding names no addon task.
func AddonTasks(ab *v1alpha1.AppBinding) (backup, restore TaskRef, err error) {
	if ab.Spec.Parameters == nil || len(ab.Spec.Parameters.Raw) == 0 {
		return TaskRef{}, TaskRef{}, nil
	}
	var p stashAddon
	if err := unmarshal(ab.Spec.Parameters.Raw, &p); err != nil {
		return TaskRef{}, TaskRef{}, fmt.Errorf("AppBinding %s/%s: spec.parameters: %w", ab.Namespace, ab.Name, err)
	}
	if p.Kind != "" && p.Kind != "StashAddon" {
		return TaskRef{}, TaskRef{}, nil
	}
	return p.Stash.Addon.BackupTask, p.Stash.Addon.RestoreTask, nil
}
