package mysql

import (
	"fmt"
	"strings"
)

// connectionOptions are the client options that choose the server, the account or the option
// files. The target's values come from the option file Hoard writes (--defaults-file); a user
// argument naming one of these would send the stored credentials elsewhere or replace them.
// The same list is in the admission guard (config/guard/admission-guard.yaml).
var connectionOptions = []string{
	"host", "port", "user", "password", "password1", "password2", "password3", "socket",
	"defaults-file", "defaults-extra-file", "defaults-group-suffix", "login-path", "no-defaults",
}

// connectionShortOptions are the one-letter forms: -h host, -P port, -u user, -p password,
// -S socket.
const connectionShortOptions = "hPupS"

// OverrideError is a user argument that would override the target's connection.
type OverrideError struct {
	// Arg is the argument as given.
	Arg string
	// Option is the connection option it sets, e.g. "--host".
	Option string
}

func (e *OverrideError) Error() string {
	return fmt.Sprintf("argument %q sets %s, which would override the target's connection: the server, port, account, "+
		"password, socket and option files come only from the AppBinding; remove it from the args", e.Shown(), e.Option)
}

// Shown is the argument as messages show it: the value of a password option is hidden, as
// the message reaches status and events.
func (e *OverrideError) Shown() string {
	switch e.Option {
	case "--password":
		if name, _, ok := strings.Cut(e.Arg, "="); ok {
			return name + "=***"
		}
	case "-p":
		if i := strings.IndexByte(e.Arg, 'p'); i >= 0 && i < len(e.Arg)-1 {
			return e.Arg[:i+1] + "***"
		}
	}
	return e.Arg
}

// CheckUserArgs refuses arguments for mysqldump or mysql that change which server they connect
// to or with which account: --host, --port, --user, --password, --socket, the option-file
// options (--defaults-file, --login-path, --no-defaults, ...), and their short forms (-h, -P,
// -u, -p, -S, also bundled or with the value attached, as in -hdb or -vhdb). Like the clients,
// it takes '_' for '-', a "loose-" prefix and any unambiguous prefix of a long option name
// (--hos=x is --host=x). It errs on the safe side: a short-option bundle holding one of those
// letters anywhere (-Dhr, a database "hr") is refused too; the long form (--database=hr) is not.
func CheckUserArgs(args []string) error {
	for _, a := range args {
		if opt := connectionOption(a); opt != "" {
			return &OverrideError{Arg: a, Option: opt}
		}
	}
	return nil
}

// connectionOption returns the connection option arg sets, or "" when it sets none.
func connectionOption(arg string) string {
	switch {
	case strings.HasPrefix(arg, "--"):
		name, _, _ := strings.Cut(arg[2:], "=")
		name = strings.ReplaceAll(strings.ToLower(name), "_", "-")
		name = strings.TrimPrefix(name, "loose-")
		if name == "" {
			return ""
		}
		for _, o := range connectionOptions {
			if strings.HasPrefix(o, name) {
				return "--" + o
			}
		}
	case strings.HasPrefix(arg, "-") && len(arg) > 1:
		// A bundle of short options: my_getopt reads letters until one takes a value, and the
		// rest of the word is that value. Which letters take a value differs between mysqldump
		// and mysql (-e), so any of the connection letters refuses the word.
		if i := strings.IndexAny(arg[1:], connectionShortOptions); i >= 0 {
			return "-" + string(arg[1+i])
		}
	}
	return ""
}
