// Package mysql runs the MySQL/MariaDB command line clients (mysqldump, mysql) against one
// server. Credentials reach the clients through a 0600 option file, never through argv.
package mysql

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Files the operator writes into the target directory after resolving the AppBinding (its
// service or URL, its Secret with secretTransforms applied, and its caBundle).
const (
	FileHost              = "host"
	FilePort              = "port"
	FileUsername          = "username"
	FilePassword          = "password"
	FileCACert            = "ca.crt"
	FileInsecureSkipTLS   = "insecure-skip-tls-verify"
	DefaultPort           = 3306
	defaultConnectTimeout = 10
)

// Target is how to reach and log in to a database server.
type Target struct {
	Host     string
	Port     int
	Username string
	// Password is used exactly as stored in the Secret.
	Password string
	// CAFile is a PEM bundle; when set, the server certificate is verified against it.
	CAFile string
	// InsecureSkipVerify uses TLS without verifying the server certificate.
	InsecureSkipVerify bool
}

// LoadTarget reads a target directory: host, port (3306 when absent), username, password, and
// optionally ca.crt and insecure-skip-tls-verify.
func LoadTarget(dir string) (*Target, error) {
	if dir == "" {
		return nil, errors.New("no database target directory given (--target-dir)")
	}
	read := func(name string, required bool) (string, bool, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			if required {
				return "", false, fmt.Errorf("database target directory %s has no file %s", dir, name)
			}
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("failed to read database target file %s: %w", name, err)
		}
		return string(b), true, nil
	}
	t := &Target{Port: DefaultPort}
	host, _, err := read(FileHost, true)
	if err != nil {
		return nil, err
	}
	t.Host = strings.TrimSpace(host)
	if t.Host == "" {
		return nil, fmt.Errorf("database target file %s/%s is empty", dir, FileHost)
	}
	if port, ok, err := read(FilePort, false); err != nil {
		return nil, err
	} else if ok && strings.TrimSpace(port) != "" {
		p, err := strconv.Atoi(strings.TrimSpace(port))
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("database target file %s/%s holds %q, not a port number", dir, FilePort, strings.TrimSpace(port))
		}
		t.Port = p
	}
	user, _, err := read(FileUsername, true)
	if err != nil {
		return nil, err
	}
	t.Username = strings.TrimRight(user, "\r\n")
	if t.Username == "" {
		return nil, fmt.Errorf("database target file %s/%s is empty", dir, FileUsername)
	}
	if t.Password, _, err = read(FilePassword, true); err != nil {
		return nil, err
	}
	if _, ok, err := read(FileCACert, false); err != nil {
		return nil, err
	} else if ok {
		t.CAFile = filepath.Join(dir, FileCACert)
	}
	if v, ok, err := read(FileInsecureSkipTLS, false); err != nil {
		return nil, err
	} else if ok {
		t.InsecureSkipVerify = strings.EqualFold(strings.TrimSpace(v), "true")
	}
	return t, nil
}

// Address is host:port, for messages.
func (t *Target) Address() string { return t.Host + ":" + strconv.Itoa(t.Port) }
