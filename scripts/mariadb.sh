#!/usr/bin/env bash
# Local MariaDB for development and tests, without systemd.
#
#   scripts/mariadb.sh up       start it and provision the app's database and user (idempotent)
#   scripts/mariadb.sh down     stop the server started with start-stop-daemon (idempotent)
#   scripts/mariadb.sh status   say whether the server answers and the app user can log in
#
# Configured from MYSQL_DSN (default mysql://betting:betting@127.0.0.1:3306/betting).
# If a server already answers on the DSN's host:port it is reused: when the app user can already
# log in nothing is done; otherwise the database and user are created through root's Unix socket.
# Otherwise Debian's mariadb-server is installed if missing (needs root), the datadir initialised
# if empty, and mariadbd started in the background with start-stop-daemon.
#
# Other environment (optional): MARIADB_DATADIR (/var/lib/mysql), MARIADB_SOCKET
# (/run/mysqld/mysqld.sock), MARIADB_PIDFILE (/run/mysqld/mysqld.pid), MARIADB_LOG_ERROR
# (/var/log/mysql/error.log), MARIADB_START_TIMEOUT (30 s), MARIADB_STOP_TIMEOUT (30 s),
# MARIADB_BUFFER_POOL (1G), MARIADB_REDO_LOG (512M): InnoDB sizes for a server this script starts.
set -euo pipefail

MYSQL_DSN="${MYSQL_DSN:-mysql://betting:betting@127.0.0.1:3306/betting}"
MARIADB_DATADIR="${MARIADB_DATADIR:-/var/lib/mysql}"
MARIADB_SOCKET="${MARIADB_SOCKET:-/run/mysqld/mysqld.sock}"
MARIADB_PIDFILE="${MARIADB_PIDFILE:-/run/mysqld/mysqld.pid}"
MARIADB_LOG_ERROR="${MARIADB_LOG_ERROR:-/var/log/mysql/error.log}"
MARIADB_START_TIMEOUT="${MARIADB_START_TIMEOUT:-30}"
MARIADB_STOP_TIMEOUT="${MARIADB_STOP_TIMEOUT:-30}"
# MariaDB's defaults (128 MiB pool, 96 MiB redo log) are smaller than one benchmark run's price
# history (~750 MiB per 1,000,000 feed messages): every insert then waits on page reads and
# checkpoint flushes, and the sink falls behind as the table grows.
MARIADB_BUFFER_POOL="${MARIADB_BUFFER_POOL:-1G}"
MARIADB_REDO_LOG="${MARIADB_REDO_LOG:-512M}"
MARIADBD=/usr/sbin/mariadbd

log() { printf '[mariadb] %s\n' "$*"; }
err() { printf '[mariadb] ERROR: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

# --- DSN -------------------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || die "python3 is needed to parse MYSQL_DSN"
dsn_vars="$(python3 - "$MYSQL_DSN" <<'EOF'
import shlex, sys
from urllib.parse import urlsplit, unquote
u = urlsplit(sys.argv[1])
if u.scheme not in ("mysql", "mariadb", "mysql+aiomysql", "mysql+pymysql"):
    print("[mariadb] ERROR: unsupported MYSQL_DSN scheme %r (expected mysql://user:password@host:port/db)"
          % u.scheme, file=sys.stderr)
    sys.exit(1)
try:
    u.port
except ValueError as e:
    print("[mariadb] ERROR: bad port in MYSQL_DSN (%s)" % e, file=sys.stderr)
    sys.exit(1)
vals = {
    "DB_USER": unquote(u.username or ""),
    "DB_PASSWORD": unquote(u.password or ""),
    "DB_HOST": u.hostname or "127.0.0.1",
    "DB_PORT": str(u.port or 3306),
    "DB_NAME": unquote(u.path.lstrip("/")),
}
for k, v in vals.items():
    print("%s=%s" % (k, shlex.quote(v)))
EOF
)" || die "could not parse MYSQL_DSN"
eval "$dsn_vars"
[[ "$DB_USER" =~ ^[A-Za-z0-9_]{1,80}$ ]] || die "MYSQL_DSN user '$DB_USER' must be letters, digits or _"
[[ "$DB_NAME" =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "MYSQL_DSN database '$DB_NAME' must be letters, digits or _"
[[ -n "$DB_PASSWORD" ]] || die "MYSQL_DSN has no password"
# The client treats host 'localhost' as "use the Unix socket"; force TCP for the DSN checks.
[[ "$DB_HOST" == localhost ]] && BIND_ADDR=127.0.0.1 || BIND_ADDR="$DB_HOST"
DSN_SHOWN="mysql://$DB_USER:***@$DB_HOST:$DB_PORT/$DB_NAME"

client() { command -v mariadb 2>/dev/null || command -v mysql 2>/dev/null || true; }
admin() { command -v mariadb-admin 2>/dev/null || command -v mysqladmin 2>/dev/null || true; }

# Does a server answer on host:port? (mysqladmin ping exits 0 even when access is denied; the app
# user's credentials are used so that a provisioned server logs no "Access denied" warning.)
server_answers() {
  local a; a="$(admin)"
  if [[ -n "$a" ]]; then
    MYSQL_PWD="$DB_PASSWORD" "$a" --no-defaults --protocol=TCP -h "$BIND_ADDR" -P "$DB_PORT" \
      -u "$DB_USER" --connect-timeout=2 ping >/dev/null 2>&1
  else
    (exec 3<>"/dev/tcp/$BIND_ADDR/$DB_PORT") 2>/dev/null
  fi
}

# Can the app user log in over TCP and use its database?
app_login() {
  local c; c="$(client)"
  [[ -n "$c" ]] || return 1
  MYSQL_PWD="$DB_PASSWORD" "$c" --no-defaults --protocol=TCP -h "$BIND_ADDR" -P "$DB_PORT" \
    -u "$DB_USER" --connect-timeout=3 -N -e 'SELECT VERSION()' "$DB_NAME" 2>&1
}

# Run SQL as root over the Unix socket (unix_socket authentication: only works as OS user root).
root_sql() {
  local c; c="$(client)"
  [[ -n "$c" ]] || return 1
  "$c" --no-defaults --protocol=SOCKET -S "$MARIADB_SOCKET" -u root --connect-timeout=3 "$@"
}

root_socket_ok() {
  [[ $EUID -eq 0 && -S "$MARIADB_SOCKET" ]] && root_sql -N -e 'SELECT 1' >/dev/null 2>&1
}

provision() {
  local pw="${DB_PASSWORD//\\/\\\\}"; pw="${pw//\'/\\\'}"
  log "ensuring database '$DB_NAME' and user '$DB_USER' exist (as root via $MARIADB_SOCKET)"
  root_sql <<EOF
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'%' IDENTIFIED BY '$pw';
-- DEV-ONLY: all privileges on every database, so tests can create and drop their own isolated
-- databases (betting_test_xxx). Never do this on a shared or production server.
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%';
FLUSH PRIVILEGES;
EOF
}

# pid of a running mariadbd from our pidfile
running_pid() {
  [[ -f "$MARIADB_PIDFILE" ]] || return 1
  local pid; pid="$(cat "$MARIADB_PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$MARIADBD" ]] || return 1
  echo "$pid"
}

show_error_log() {
  if [[ -s "$MARIADB_LOG_ERROR" ]]; then
    err "last lines of $MARIADB_LOG_ERROR:"
    tail -n 20 "$MARIADB_LOG_ERROR" | sed 's/^/    /' >&2
  fi
}

ensure_installed() {
  if [[ -x "$MARIADBD" && -n "$(client)" ]]; then
    return 0
  fi
  [[ $EUID -eq 0 ]] || die "mariadb-server is not installed and installing it needs root (run: sudo apt-get install mariadb-server mariadb-client)"
  command -v apt-get >/dev/null 2>&1 || die "mariadb-server is not installed and apt-get is not available"
  log "installing mariadb-server and mariadb-client with apt-get"
  # Refresh the package lists only when apt does not know the package yet.
  if ! apt-cache policy mariadb-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get -o DPkg::Lock::Timeout=600 update -q
  fi
  # The lock timeout waits for another apt/dpkg run instead of failing on its lock.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    mariadb-server mariadb-client
  [[ -x "$MARIADBD" ]] || die "installation finished but $MARIADBD is missing"
}

start_server() {
  [[ $EUID -eq 0 ]] || die "starting mariadbd needs root (it runs as user mysql)"
  case "$BIND_ADDR" in
    127.0.0.1|::1|0.0.0.0) ;;
    *) die "nothing answers at $DB_HOST:$DB_PORT and it is not a local address; start that server yourself" ;;
  esac
  ensure_installed
  command -v start-stop-daemon >/dev/null 2>&1 || die "start-stop-daemon not found (Debian package dpkg)"

  install -d -o mysql -g mysql -m 0755 "$(dirname "$MARIADB_SOCKET")" "$(dirname "$MARIADB_PIDFILE")"
  install -d -o mysql -g adm -m 2750 "$(dirname "$MARIADB_LOG_ERROR")" 2>/dev/null \
    || install -d -o mysql -m 0750 "$(dirname "$MARIADB_LOG_ERROR")"
  touch "$MARIADB_LOG_ERROR" && chown mysql "$MARIADB_LOG_ERROR"

  if [[ ! -d "$MARIADB_DATADIR/mysql" ]]; then
    log "initialising an empty datadir $MARIADB_DATADIR (mariadb-install-db)"
    install -d -o mysql -g mysql -m 0755 "$MARIADB_DATADIR"
    mariadb-install-db --user=mysql --datadir="$MARIADB_DATADIR" --skip-test-db \
      --auth-root-authentication-method=socket >"$(dirname "$MARIADB_LOG_ERROR")/install-db.log" 2>&1 \
      || { tail -n 20 "$(dirname "$MARIADB_LOG_ERROR")/install-db.log" >&2; die "mariadb-install-db failed"; }
  fi

  log "starting mariadbd on $BIND_ADDR:$DB_PORT (datadir $MARIADB_DATADIR, log $MARIADB_LOG_ERROR)"
  start-stop-daemon --start --quiet --oknodo --background \
    --pidfile "$MARIADB_PIDFILE" --exec "$MARIADBD" -- \
    --user=mysql --bind-address="$BIND_ADDR" --port="$DB_PORT" \
    --datadir="$MARIADB_DATADIR" --socket="$MARIADB_SOCKET" --pid-file="$MARIADB_PIDFILE" \
    --log-error="$MARIADB_LOG_ERROR" \
    --innodb-buffer-pool-size="$MARIADB_BUFFER_POOL" --innodb-log-file-size="$MARIADB_REDO_LOG" 9>&-

  local start=$SECONDS
  until root_socket_ok && server_answers; do
    if (( SECONDS - start >= MARIADB_START_TIMEOUT )); then
      show_error_log
      die "mariadbd did not answer within ${MARIADB_START_TIMEOUT} s"
    fi
    # Gone before writing its pidfile, or gone after: either way it failed.
    if (( SECONDS - start >= 3 )) && ! running_pid >/dev/null && ! pgrep -x mariadbd >/dev/null; then
      show_error_log
      die "mariadbd exited during startup"
    fi
    sleep 0.2
  done
  log "mariadbd answers after $((SECONDS - start)) s (pid $(running_pid || echo '?'))"
}

cmd_up() {
  local out
  # One 'up' at a time (fd 9 is closed for mariadbd so the server does not keep the lock).
  exec 9>"${TMPDIR:-/tmp}/scripts-mariadb-up.$EUID.lock"
  flock -w 120 9 || die "another 'scripts/mariadb.sh up' is still running"
  if server_answers; then
    if out="$(app_login)"; then
      log "already running: MariaDB $out at $DSN_SHOWN"
      return 0
    fi
    if root_socket_ok; then
      log "a server answers at $DB_HOST:$DB_PORT; the app user cannot log in yet ($out)"
      provision
    else
      die "a server answers at $DB_HOST:$DB_PORT but '$DB_USER' cannot log in ($out), and there is no root access through $MARIADB_SOCKET to create it (run as root, or create the user yourself)"
    fi
  else
    start_server
    provision
  fi
  out="$(app_login)" || die "provisioned, but '$DB_USER' still cannot log in over TCP: $out"
  log "up: MariaDB $out at $DSN_SHOWN"
}

cmd_down() {
  local pid
  if ! pid="$(running_pid)"; then
    if server_answers; then
      log "a server answers at $DB_HOST:$DB_PORT but not through $MARIADB_PIDFILE; not started by this script, leaving it alone"
    else
      log "not running"
    fi
    return 0
  fi
  log "stopping mariadbd (pid $pid)"
  local start=$SECONDS
  start-stop-daemon --stop --quiet --oknodo --pidfile "$MARIADB_PIDFILE" --exec "$MARIADBD" \
    --retry "TERM/$MARIADB_STOP_TIMEOUT/KILL/5"
  log "stopped in $((SECONDS - start)) s"
}

cmd_status() {
  local out
  if ! server_answers; then
    log "nothing answers at $DB_HOST:$DB_PORT"
    return 2
  fi
  if out="$(app_login)"; then
    log "MariaDB $out answers at $DSN_SHOWN$(pid="$(running_pid)" && echo " [pid $pid]")"
    return 0
  fi
  log "a server answers at $DB_HOST:$DB_PORT but '$DB_USER' cannot log in: $out"
  return 3
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
