// Command hoard-mysql-addon runs inside backup and restore Jobs: it dumps a MySQL/MariaDB
// server into a restic repository (backup-mysql) or loads a dump back (restore-mysql).
package main

import (
	"os"

	"github.com/hoard-operator/hoard/cmd/mysql-addon/app"
)

func main() {
	os.Exit(app.Execute(os.Args[1:]))
}
