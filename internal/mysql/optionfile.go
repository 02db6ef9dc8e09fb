package mysql

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// WriteOptionFile writes the [client] section of an option file for t into dir, readable by
// its owner only, and returns its path. Both mysqldump and mysql read it through
// --defaults-file, which must be their first argument and keeps the image's own my.cnf out.
func WriteOptionFile(dir string, t *Target) (string, error) {
	f, err := os.CreateTemp(dir, "client-*.cnf")
	if err != nil {
		return "", fmt.Errorf("failed to create the mysql option file: %w", err)
	}
	// CreateTemp already uses 0600; Chmod guards against an unusual umask or filesystem.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("failed to restrict the mysql option file: %w", err)
	}
	if _, err := f.WriteString(OptionFileContent(t)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("failed to write the mysql option file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("failed to write the mysql option file: %w", err)
	}
	return f.Name(), nil
}

// OptionFileContent renders the option file for t.
func OptionFileContent(t *Target) string {
	var b strings.Builder
	b.WriteString("[client]\n")
	fmt.Fprintf(&b, "host=%s\n", quoteOption(t.Host))
	fmt.Fprintf(&b, "port=%s\n", strconv.Itoa(t.Port))
	// TCP even for "localhost", which the clients would otherwise take as a socket path.
	b.WriteString("protocol=TCP\n")
	fmt.Fprintf(&b, "user=%s\n", quoteOption(t.Username))
	fmt.Fprintf(&b, "password=%s\n", quoteOption(t.Password))
	switch {
	case t.CAFile != "" && !t.InsecureSkipVerify:
		b.WriteString("ssl\n")
		fmt.Fprintf(&b, "ssl-ca=%s\n", quoteOption(t.CAFile))
		b.WriteString("ssl-verify-server-cert\n")
	case t.InsecureSkipVerify:
		b.WriteString("ssl\n")
	}
	return b.String()
}

// quoteOption quotes an option value so that the clients read it back byte for byte: inside
// double quotes, '#' does not start a comment, spaces are kept, and backslash escapes are
// decoded (\\ \" \n \r \t \b).
func quoteOption(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "\b", `\b`)
	return `"` + r.Replace(v) + `"`
}
