#!/usr/bin/env bash
# Local single-node RabbitMQ for the UOF (Unified Odds Feed) AMQP ingestor's tests, without systemd.
#
#   scripts/rabbitmq.sh up       start it and provision the vhost, user and exchange (idempotent;
#                                a fast no-op when the broker answers and everything is in place)
#   scripts/rabbitmq.sh down     stop the node (rabbitmqctl stop; idempotent)
#   scripts/rabbitmq.sh status   say whether AMQP answers on host:port and the vhost has the exchange
#
# Debian's rabbitmq-server (3.10.x on Debian 12) is installed if missing (needs root). Its
# post-install start of the service is suppressed (a temporary /usr/sbin/policy-rc.d when there is
# none): without systemd it fails, or /etc/init.d starts a node listening on every interface.
# The node is started with `rabbitmq-server -detached` as node $RABBITMQ_NODENAME with everything
# on loopback: AMQP on $RABBITMQ_NODE_IP_ADDRESS:$RABBITMQ_NODE_PORT, epmd on port 4369 of
# 127.0.0.1 and ::1, Erlang distribution on 127.0.0.1:$RABBITMQ_DIST_PORT (and each rabbitmqctl
# call's own short-lived one on 127.0.0.1 too). Plugins that open listeners of their own
# (management, prometheus, web_*, mqtt, stomp, stream) are disabled. Nothing else listens.
#
# Provisioned like Sportradar's broker: vhost $RABBITMQ_VHOST, user $RABBITMQ_USER with all
# permissions on it, and the durable topic exchange $RABBITMQ_EXCHANGE in that vhost. They persist
# in the node's mnesia dir, so `down` then `up` keeps them (and `up` checks them again anyway).
#
# Files: RabbitMQ's defaults. Data /var/lib/rabbitmq/mnesia/$RABBITMQ_NODENAME, logs
# /var/log/rabbitmq/$RABBITMQ_NODENAME.log (and *_upgrade.log); shown on a failed start.
#
# The node name is rabbit@localhost (not rabbit@<hostname>), so that rabbitmqctl reaches it over
# loopback whatever the machine's hostname resolves to. To use rabbitmqctl by hand:
#   rabbitmqctl -n rabbit@localhost list_exchanges --vhost unifiedfeed
#
# Environment (all optional):
#   RABBITMQ_NODE_IP_ADDRESS (127.0.0.1)  RABBITMQ_NODE_PORT (5672)  RABBITMQ_DIST_PORT (25672)
#   RABBITMQ_NODENAME (rabbit@localhost)
#   RABBITMQ_VHOST (unifiedfeed)  RABBITMQ_USER (odds)  RABBITMQ_PASSWORD (odds): development only
#   RABBITMQ_EXCHANGE (unifiedfeed)
#   RABBITMQ_START_TIMEOUT (60 s)  RABBITMQ_STOP_TIMEOUT (30 s)
set -euo pipefail

export RABBITMQ_NODE_IP_ADDRESS="${RABBITMQ_NODE_IP_ADDRESS:-127.0.0.1}"
export RABBITMQ_NODE_PORT="${RABBITMQ_NODE_PORT:-5672}"
export RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-25672}"
export RABBITMQ_NODENAME="${RABBITMQ_NODENAME:-rabbit@localhost}"
# epmd (started by the first Erlang node or CLI call) listens on loopback only.
export ERL_EPMD_ADDRESS=127.0.0.1
# The node's distribution listener on loopback only...
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} -kernel inet_dist_use_interface {127,0,0,1}"
# ...and the short-lived one each rabbitmqctl call opens (ports 35672-35682 by default).
export RABBITMQ_CTL_ERL_ARGS="${RABBITMQ_CTL_ERL_ARGS:-} -kernel inet_dist_use_interface {127,0,0,1}"

RABBITMQ_VHOST="${RABBITMQ_VHOST:-unifiedfeed}"
RABBITMQ_USER="${RABBITMQ_USER:-odds}"
RABBITMQ_PASSWORD="${RABBITMQ_PASSWORD:-odds}"
RABBITMQ_EXCHANGE="${RABBITMQ_EXCHANGE:-unifiedfeed}"
RABBITMQ_START_TIMEOUT="${RABBITMQ_START_TIMEOUT:-60}"
RABBITMQ_STOP_TIMEOUT="${RABBITMQ_STOP_TIMEOUT:-30}"

HOST="$RABBITMQ_NODE_IP_ADDRESS"
PORT="$RABBITMQ_NODE_PORT"
LOG_DIR=/var/log/rabbitmq
NODE_LOG="$LOG_DIR/$RABBITMQ_NODENAME.log"
ENABLED_PLUGINS_FILE=/etc/rabbitmq/enabled_plugins
# Plugins that would open listeners of their own (15672, 15692, 15674, 15675, ...).
LISTENING_PLUGINS=(rabbitmq_management rabbitmq_management_agent rabbitmq_prometheus
                   rabbitmq_web_dispatch rabbitmq_web_stomp rabbitmq_web_mqtt rabbitmq_mqtt
                   rabbitmq_stomp rabbitmq_stream rabbitmq_stream_management)

log() { printf '[rabbitmq] %s\n' "$*"; }
err() { printf '[rabbitmq] ERROR: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

for name in RABBITMQ_VHOST RABBITMQ_USER RABBITMQ_EXCHANGE; do
  [[ "${!name}" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "$name='${!name}' must be letters, digits, '_', '.' or '-'"
done
[[ "$RABBITMQ_PASSWORD" =~ ^[^\'\"\\]{1,128}$ ]] || die "RABBITMQ_PASSWORD must be 1-128 characters without quotes or backslashes"

# Does something accept TCP connections on host:port?
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Does an AMQP 0-9-1 broker answer on host:port? (protocol header in, Connection.Start back)
amqp_answers() {
  local frame
  frame="$( (exec 3<>"/dev/tcp/$HOST/$PORT" || exit 1
            printf 'AMQP\0\0\x09\x01' >&3
            timeout 3 head -c 11 <&3 | od -An -tx1 | tr -d ' \n') 2>/dev/null)" || return 1
  # frame type 1 (method), channel 0, size (4 bytes), class 10 (connection), method 10 (start)
  [[ "$frame" == 010000* && "${frame:14:8}" == 000a000a ]]
}

ctl() { timeout 60 rabbitmqctl -q -n "$RABBITMQ_NODENAME" "$@"; }

# Debian's rabbitmqctl runs only as root (it switches to user rabbitmq) or as rabbitmq itself.
can_ctl() {
  command -v rabbitmqctl >/dev/null 2>&1 && [[ $EUID -eq 0 || "$(id -un)" == rabbitmq ]]
}

# Does rabbitmqctl reach our node? (fails while it boots, or when another node owns the port)
node_reachable() { ctl ping >/dev/null 2>&1; }

# "<name>\t<type>" of the exchange, when it exists
exchange_type() {
  ctl list_exchanges --vhost "$RABBITMQ_VHOST" name type 2>/dev/null \
    | awk -F'\t' -v x="$RABBITMQ_EXCHANGE" '$1 == x { print $2 }'
}

# Is everything the tests need in place? Prints what is missing. The four rabbitmqctl calls
# (~0.4 s each, mostly the CLI's own start) run in parallel.
provisioned() {
  local tmp missing=() type
  tmp="$(mktemp -d)"
  ctl list_vhosts name >"$tmp/vhosts" 2>/dev/null &
  { ctl authenticate_user "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null 2>&1 && touch "$tmp/auth"; } &
  ctl list_user_permissions "$RABBITMQ_USER" >"$tmp/perms" 2>/dev/null &
  exchange_type >"$tmp/xtype" &
  wait
  grep -qxF "$RABBITMQ_VHOST" "$tmp/vhosts" || missing+=("vhost $RABBITMQ_VHOST")
  [[ -e "$tmp/auth" ]] || missing+=("user $RABBITMQ_USER (or its password)")
  grep -qxF "$(printf '%s\t.*\t.*\t.*' "$RABBITMQ_VHOST")" "$tmp/perms" \
    || missing+=("permissions of $RABBITMQ_USER on $RABBITMQ_VHOST")
  type="$(cat "$tmp/xtype")"
  rm -rf "$tmp"
  [[ "$type" == topic ]] || missing+=("topic exchange $RABBITMQ_EXCHANGE${type:+ (it is a $type exchange)}")
  (( ${#missing[@]} == 0 )) && return 0
  local IFS=,; echo "${missing[*]}"
  return 1
}

provision() {
  log "provisioning vhost $RABBITMQ_VHOST, user $RABBITMQ_USER, topic exchange $RABBITMQ_EXCHANGE"
  local vhosts users
  vhosts="$(ctl list_vhosts name)" || die "rabbitmqctl list_vhosts failed"
  if ! grep -qxF "$RABBITMQ_VHOST" <<<"$vhosts"; then
    ctl add_vhost "$RABBITMQ_VHOST"
  fi
  users="$(ctl list_users)" || die "rabbitmqctl list_users failed"
  if cut -f1 <<<"$users" | grep -qxF "$RABBITMQ_USER"; then
    ctl authenticate_user "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null 2>&1 \
      || ctl change_password "$RABBITMQ_USER" "$RABBITMQ_PASSWORD"
  else
    ctl add_user "$RABBITMQ_USER" "$RABBITMQ_PASSWORD"
  fi
  ctl set_permissions --vhost "$RABBITMQ_VHOST" "$RABBITMQ_USER" '.*' '.*' '.*'
  local type; type="$(exchange_type)"
  if [[ -n "$type" && "$type" != topic ]]; then
    die "exchange $RABBITMQ_EXCHANGE exists in vhost $RABBITMQ_VHOST as a $type exchange; delete it (rabbitmqctl -n $RABBITMQ_NODENAME eval) or drop the vhost, then run up again"
  fi
  if [[ -z "$type" ]]; then
    # rabbitmqctl has no declare command and rabbitmqadmin needs the management plugin: declare
    # it inside the node. rabbit_exchange:declare/7 on 3.10 (name, type, durable,
    # auto_delete, internal, arguments, acting user); checked so a change of API fails loudly.
    local out
    out="$(ctl eval "
      XName = rabbit_misc:r(<<\"$RABBITMQ_VHOST\">>, exchange, <<\"$RABBITMQ_EXCHANGE\">>),
      case erlang:function_exported(rabbit_exchange, declare, 7) of
        true -> {ok, rabbit_exchange:declare(XName, topic, true, false, false, [], <<\"$RABBITMQ_USER\">>)};
        false -> {error, no_rabbit_exchange_declare_7}
      end.")" || die "declaring exchange $RABBITMQ_EXCHANGE failed: $out"
    [[ "$out" == "{ok,"* ]] || die "declaring exchange $RABBITMQ_EXCHANGE failed: $out"
  fi
  local missing
  missing="$(provisioned)" || die "provisioned, but still missing: $missing"
}

show_logs() {
  local f
  for f in "$NODE_LOG" "$LOG_DIR/startup_log" "$LOG_DIR/startup_err"; do
    if [[ -s "$f" ]]; then
      err "last lines of $f:"
      tail -n 25 "$f" | sed 's/^/    /' >&2
    fi
  done
  err "RabbitMQ's logs: $LOG_DIR/"
}

ensure_installed() {
  if command -v rabbitmq-server >/dev/null 2>&1 && command -v rabbitmqctl >/dev/null 2>&1; then
    return 0
  fi
  [[ $EUID -eq 0 ]] || die "rabbitmq-server is not installed and installing it needs root (run as root, or: sudo apt-get install rabbitmq-server)"
  command -v apt-get >/dev/null 2>&1 || die "rabbitmq-server is not installed and apt-get is not available"
  log "installing rabbitmq-server with apt-get"
  # Refresh the package lists only when apt does not know the package yet.
  if ! apt-cache policy rabbitmq-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get -o DPkg::Lock::Timeout=600 update -q
  fi
  # Keep the post-install script from starting the service (invoke-rc.d asks policy-rc.d; 101 =
  # "not allowed"): without systemd it fails, and it would listen on every interface.
  local policy=/usr/sbin/policy-rc.d ours=""
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# temporary, from scripts/rabbitmq.sh: no service starts during the install\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    ours=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q rabbitmq-server || rc=$?
  if [[ -n "$ours" ]]; then
    rm -f "$policy"
    trap - EXIT
  fi
  if (( rc != 0 )); then
    # A failed service start in the postinst leaves the package half-configured: tolerated as long
    # as the binaries are there.
    err "apt-get install exited with $rc (a failed service start in the post-install script is expected without systemd)"
  fi
  if ! command -v rabbitmq-server >/dev/null 2>&1 || ! command -v rabbitmqctl >/dev/null 2>&1; then
    die "installation finished but rabbitmq-server/rabbitmqctl are missing"
  fi
  log "installed $(dpkg-query -W -f '${Package} ${Version}' rabbitmq-server)"
}

disable_listening_plugins() {  # $1 = --offline (node stopped) or --online (node running)
  [[ -s "$ENABLED_PLUGINS_FILE" ]] || return 0
  local p on=()
  for p in "${LISTENING_PLUGINS[@]}"; do
    if grep -qE "(^|[^a-z_])$p([^a-z_]|$)" "$ENABLED_PLUGINS_FILE"; then on+=("$p"); fi
  done
  (( ${#on[@]} == 0 )) && return 0
  # Online: only on our own node (another one on the port is reported by the caller).
  if [[ "$1" == --online ]] && ! node_reachable; then return 0; fi
  log "disabling plugins that open listeners of their own: ${on[*]}"
  rabbitmq-plugins -q -n "$RABBITMQ_NODENAME" disable "$1" "${on[@]}" >/dev/null \
    || die "rabbitmq-plugins disable ${on[*]} failed"
}

start_node() {
  [[ $EUID -eq 0 ]] || die "starting RabbitMQ needs root (the node runs as user rabbitmq)"
  ensure_installed
  if port_open 127.0.0.1 "$RABBITMQ_DIST_PORT"; then
    die "the distribution port 127.0.0.1:$RABBITMQ_DIST_PORT is in use; free it or set RABBITMQ_DIST_PORT"
  fi
  disable_listening_plugins --offline
  log "starting node $RABBITMQ_NODENAME on $HOST:$PORT (distribution 127.0.0.1:$RABBITMQ_DIST_PORT, log $NODE_LOG)"
  local start=$SECONDS
  # -detached forks the node off and returns at once. fd 9 (our lock) is not passed on.
  rabbitmq-server -detached 9>&- || { show_logs; die "rabbitmq-server -detached failed"; }

  until port_open "$HOST" "$PORT"; do
    if (( SECONDS - start >= RABBITMQ_START_TIMEOUT )); then
      show_logs
      die "nothing listens on $HOST:$PORT after ${RABBITMQ_START_TIMEOUT} s"
    fi
    # -detached gives no exit status; a node that died while booting is no longer in epmd.
    if (( SECONDS - start >= 10 )) && ! epmd -names 2>/dev/null | grep -q "^name ${RABBITMQ_NODENAME%@*} at port "; then
      show_logs
      die "node $RABBITMQ_NODENAME exited while booting"
    fi
    sleep 0.3
  done
  # Right after -detached, await_startup can fail before the node has registered with epmd.
  until ctl await_startup --timeout "$((RABBITMQ_START_TIMEOUT - (SECONDS - start) + 1))" >/dev/null 2>&1; do
    if (( SECONDS - start >= RABBITMQ_START_TIMEOUT )); then
      show_logs
      die "node $RABBITMQ_NODENAME listens on $HOST:$PORT but did not finish booting within ${RABBITMQ_START_TIMEOUT} s"
    fi
    sleep 0.5
  done
  log "node $RABBITMQ_NODENAME booted in $((SECONDS - start)) s"
}

cmd_up() {
  # One 'up' at a time.
  exec 9>"${TMPDIR:-/tmp}/scripts-rabbitmq-up.$EUID.lock"
  flock -w 180 9 || die "another 'scripts/rabbitmq.sh up' is still running"
  local missing
  if port_open "$HOST" "$PORT" && ! can_ctl; then
    command -v rabbitmqctl >/dev/null 2>&1 \
      || die "something listens on $HOST:$PORT and RabbitMQ is not installed here; free the port or set RABBITMQ_NODE_PORT"
    die "something answers at $HOST:$PORT; checking and provisioning it needs root (Debian's rabbitmqctl runs as root or rabbitmq only)"
  fi
  if port_open "$HOST" "$PORT"; then
    disable_listening_plugins --online
    if missing="$(provisioned)"; then
      log "already running: node $RABBITMQ_NODENAME on $HOST:$PORT, vhost $RABBITMQ_VHOST, user $RABBITMQ_USER, topic exchange $RABBITMQ_EXCHANGE"
      return 0
    fi
    if ! node_reachable; then
      die "something listens on $HOST:$PORT but rabbitmqctl cannot reach node $RABBITMQ_NODENAME: not started by this script (Debian's own service? /etc/init.d/rabbitmq-server stop); free the port or set RABBITMQ_NODE_PORT"
    fi
    log "node $RABBITMQ_NODENAME runs; missing: $missing"
  elif can_ctl && node_reachable; then
    # Our node runs but its AMQP listener does not (still booting, or started for another port).
    log "node $RABBITMQ_NODENAME runs but nothing listens on $HOST:$PORT yet; waiting for it"
    disable_listening_plugins --online
    ctl await_startup --timeout "$RABBITMQ_START_TIMEOUT" >/dev/null \
      || { show_logs; die "node $RABBITMQ_NODENAME did not finish booting"; }
    port_open "$HOST" "$PORT" \
      || die "node $RABBITMQ_NODENAME runs but does not listen on $HOST:$PORT (started with other settings?); run scripts/rabbitmq.sh down first"
  else
    start_node
  fi
  # After a restart everything is normally still there (it lives in the mnesia dir).
  if ! missing="$(provisioned)"; then
    [[ $EUID -eq 0 ]] || die "missing: $missing; provisioning needs root (rabbitmqctl runs as user rabbitmq)"
    provision
  fi
  amqp_answers || die "$HOST:$PORT does not answer the AMQP 0-9-1 protocol header"
  log "up: amqp://$RABBITMQ_USER:***@$HOST:$PORT/$RABBITMQ_VHOST, topic exchange $RABBITMQ_EXCHANGE"
}

cmd_down() {
  if ! command -v rabbitmqctl >/dev/null 2>&1; then
    log "not installed, not running"
    return 0
  fi
  can_ctl || die "stopping the node needs root (Debian's rabbitmqctl runs as root or rabbitmq only)"
  if ! node_reachable; then
    if port_open "$HOST" "$PORT"; then
      log "something listens on $HOST:$PORT but it is not node $RABBITMQ_NODENAME; leaving it alone"
    else
      log "not running"
    fi
    return 0
  fi
  log "stopping node $RABBITMQ_NODENAME"
  local start=$SECONDS
  # Without a pid file 'stop' returns once the node has halted (~0.5 s); 'stop <pidfile>' or
  # 'shutdown' poll the process and take 3-4 s. The ports tell when the VM is gone.
  ctl stop --idempotent >/dev/null || die "rabbitmqctl stop failed"
  while port_open "$HOST" "$PORT" || port_open 127.0.0.1 "$RABBITMQ_DIST_PORT"; do
    if (( SECONDS - start >= RABBITMQ_STOP_TIMEOUT )); then
      die "node $RABBITMQ_NODENAME still listens ${RABBITMQ_STOP_TIMEOUT} s after 'rabbitmqctl stop'"
    fi
    sleep 0.1
  done
  log "stopped in $((SECONDS - start)) s (epmd keeps running on loopback port 4369)"
}

cmd_status() {
  if ! port_open "$HOST" "$PORT"; then
    log "nothing answers at $HOST:$PORT"
    return 2
  fi
  if ! can_ctl; then
    log "something answers at $HOST:$PORT; run as root to check node $RABBITMQ_NODENAME and its exchange (Debian's rabbitmqctl runs as root or rabbitmq only)"
    return 3
  fi
  local exchanges
  if ! exchanges="$(ctl list_exchanges --vhost "$RABBITMQ_VHOST" name type 2>&1)"; then
    if node_reachable; then
      log "node $RABBITMQ_NODENAME answers at $HOST:$PORT but has no vhost $RABBITMQ_VHOST"
    else
      log "something answers at $HOST:$PORT but rabbitmqctl cannot reach node $RABBITMQ_NODENAME"
    fi
    return 3
  fi
  local type
  type="$(awk -F'\t' -v x="$RABBITMQ_EXCHANGE" '$1 == x { print $2 }' <<<"$exchanges")"
  if [[ "$type" != topic ]]; then
    log "node $RABBITMQ_NODENAME answers at $HOST:$PORT but vhost $RABBITMQ_VHOST has no topic exchange $RABBITMQ_EXCHANGE${type:+ (a $type exchange)}"
    return 3
  fi
  log "node $RABBITMQ_NODENAME answers at $HOST:$PORT; vhost $RABBITMQ_VHOST has topic exchange $RABBITMQ_EXCHANGE"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
