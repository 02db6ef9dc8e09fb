#!/bin/bash
# Entrypoint of hoard.local/mariadb: the upstream image's contract, in short.
#  - Started as root: makes the data dir the mysql user's, then runs itself again as mysql.
#  - Empty data dir: initialises it, sets the root password from MYSQL_ROOT_PASSWORD (or
#    MARIADB_ROOT_PASSWORD; MYSQL_ALLOW_EMPTY_PASSWORD=yes allows none) for 'root'@'%' and
#    'root'@'localhost', creates MYSQL_DATABASE and MYSQL_USER/MYSQL_PASSWORD if given, and runs
#    /docker-entrypoint-initdb.d/*.sql and *.sh.
#  - Then execs mariadbd (PID 1, so it gets SIGTERM and shuts down cleanly).
set -euo pipefail

DATADIR=/var/lib/mysql
# The temporary server that sets the accounts up listens on its own socket (and no TCP), so a
# readiness probe on the default socket or port cannot take it for the real server.
SOCKET=/run/mysqld/init.sock

log() { echo "[entrypoint] $*" >&2; }

# Arguments that are options go to mariadbd, as with the upstream image.
if [ "${1:0:1}" = "-" ]; then set -- mariadbd "$@"; fi
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$DATADIR" /run/mysqld
  chown -R mysql:mysql "$DATADIR" /run/mysqld
  exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
fi

root_pw=${MYSQL_ROOT_PASSWORD:-${MARIADB_ROOT_PASSWORD:-}}
database=${MYSQL_DATABASE:-${MARIADB_DATABASE:-}}
user=${MYSQL_USER:-${MARIADB_USER:-}}
user_pw=${MYSQL_PASSWORD:-${MARIADB_PASSWORD:-}}
allow_empty=${MYSQL_ALLOW_EMPTY_PASSWORD:-${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}}

# sql_escape: quote a value for a single-quoted SQL string.
sql_escape() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"; }

# source_init FILE: run a user's init script in this shell, as the upstream image does.
source_init() {
  # shellcheck disable=SC1090
  . "$1"
}

init_datadir() {
  if [ -z "$root_pw" ] && [ "$allow_empty" != yes ] && [ "$allow_empty" != 1 ]; then
    log "database is uninitialised and MYSQL_ROOT_PASSWORD is not set (or MYSQL_ALLOW_EMPTY_PASSWORD=yes)"
    exit 1
  fi
  log "initialising $DATADIR"
  mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >/dev/null

  # A private server, no network, to set the accounts up.
  "$@" --skip-networking --socket="$SOCKET" --datadir="$DATADIR" &
  local pid=$! _
  for _ in $(seq 1 60); do
    mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { log "temporary server died"; exit 1; }
    sleep 1
  done

  local pw sql
  pw=$(sql_escape "$root_pw")
  sql="SET @@SESSION.SQL_LOG_BIN=0;
DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost'));
ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';
CREATE USER 'root'@'%' IDENTIFIED BY '$pw';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
DROP DATABASE IF EXISTS test;"
  if [ -n "$database" ]; then
    sql+="
CREATE DATABASE IF NOT EXISTS \`$database\`;"
  fi
  if [ -n "$user" ] && [ -n "$user_pw" ]; then
    sql+="
CREATE USER '$(sql_escape "$user")'@'%' IDENTIFIED BY '$(sql_escape "$user_pw")';"
    [ -n "$database" ] && sql+="
GRANT ALL ON \`$database\`.* TO '$(sql_escape "$user")'@'%';"
  fi
  sql+="
FLUSH PRIVILEGES;"
  mariadb --protocol=socket --socket="$SOCKET" -uroot <<<"$sql"

  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh) log "running $f"; source_init "$f" ;;
      *.sql) log "running $f"; mariadb --socket="$SOCKET" -uroot -p"$root_pw" ${database:+"$database"} <"$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | mariadb --socket="$SOCKET" -uroot -p"$root_pw" ${database:+"$database"} ;;
    esac
  done

  mariadb-admin --socket="$SOCKET" -uroot -p"$root_pw" shutdown
  wait "$pid" || true
  log "initialised"
}

if [ ! -d "$DATADIR/mysql" ]; then
  init_datadir "$@"
fi

exec "$@"
