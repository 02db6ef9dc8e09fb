package result

// The rest of the contract between the operator, which renders Jobs, and the programs those
// Jobs run (hoard-mysql-addon, and the operator image's own `hoard wipe-repository`,
// `hoard snapshots`, `hoard repository-operation`): where a Job finds its inputs. Both sides
// import these names; neither writes the values again (design record 0025).
const (
	// DefaultHostname is the snapshot host of a target without an alias, as upstream Stash
	// named it: the operator passes it as ${HOSTNAME}, and the addon uses it when none is given.
	DefaultHostname = "host-0"

	// SecretDir is where a Job mounts the Repository's storage Secret, one file per key
	// (the Functions' --secret-dir). Credentials reach a Job only this way, never in args.
	SecretDir = "/etc/repository/secret"
	// TargetDir is where a Job mounts the database connection the operator resolved from the
	// AppBinding (host, port, username, password, ca.crt), so that the Job needs no API access.
	TargetDir = "/etc/hoard/target"
	// ScratchDir is every Job's writable directory (an emptyDir): restic's cache and temporary
	// files, the option file.
	ScratchDir = "/tmp"

	// PasswordKey is the key of the storage Secret that holds the repository's password,
	// restic's RESTIC_PASSWORD. The operator refuses a Secret without it before it starts a Job.
	PasswordKey = "RESTIC_PASSWORD"
)
