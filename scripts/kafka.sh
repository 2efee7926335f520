#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller in one JVM) for development and tests.
#
#   scripts/kafka.sh up       start it (idempotent: reuses anything already answering on host:port;
#                             restarts a broker it started earlier whose configuration is out of date)
#   scripts/kafka.sh down     stop the broker this script started (idempotent)
#   scripts/kafka.sh status   say whether a Kafka broker answers metadata requests on host:port
#
# The one broker has two client listeners on the same data:
#   PLAINTEXT       $KAFKA_HOST:$KAFKA_PORT        no authentication (and inter-broker traffic)
#   SASL_PLAINTEXT  $KAFKA_HOST:$KAFKA_SASL_PORT   SCRAM-SHA-512, user $KAFKA_SCRAM_USER
# The SCRAM user is created when the storage is formatted (kafka-storage format --add-scram); on a
# data dir formatted without it, it is added through the PLAINTEXT listener once the broker is up
# (kafka-configs --alter, an upsert), so no data is lost. .kafka/scram.stamp records that it is done.
#
# No tarball, no Docker: the broker's jars are resolved from Maven Central with infra/kafka/pom.xml.
# Everything it writes lives in the git-ignored folder .kafka/ at the repo root:
#   .kafka/m2      Maven local repository (nothing touches ~/.m2)
#   .kafka/libs    the broker's classpath (all jars, flat)
#   .kafka/data    KRaft metadata log + topic data (formatted once)
#   .kafka/logs    server.log (log4j2), kafka.out (JVM stdout/stderr), mvn.log, format.log
#   .kafka/kafka.pid, .kafka/server.properties, .kafka/log4j2*.properties, .kafka/scram.stamp
#
# A second, independent broker (e.g. one a fault-injection test stops and starts) gets its own
# files with KAFKA_STATE_DIR (pid file, configuration, lock, SCRAM stamp; data/ and logs/ below it
# unless KAFKA_DATA_DIR / KAFKA_LOG_DIR say otherwise) and its own ports; it reuses the jars of
# .kafka/libs. `down` only ever stops the broker whose pid file and configuration are this
# instance's, so the default broker on 9092 is left alone.
#
# Environment (all optional):
#   KAFKA_HOST (127.0.0.1)  KAFKA_PORT (9092)  KAFKA_CONTROLLER_PORT (9093)  KAFKA_SASL_PORT (9094)
#   KAFKA_SCRAM_USER (odds)  KAFKA_SCRAM_PASSWORD (odds-secret): development credentials only
#   KAFKA_HEAP_OPTS ("-Xmx1G -Xms512m")  KAFKA_START_TIMEOUT (60 s)  KAFKA_STOP_TIMEOUT (30 s)
#   KAFKA_STATE_DIR (.kafka)  KAFKA_DATA_DIR ($KAFKA_STATE_DIR/data)  KAFKA_LOG_DIR ($KAFKA_STATE_DIR/logs)
#
# Keep KAFKA_CONTROLLER_PORT stable once the storage is formatted: with a dynamic (--standalone)
# quorum the controller's endpoint is recorded in the metadata log. `rm -rf .kafka/data` resets it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/infra/kafka/pom.xml"
SHARED="$ROOT/.kafka"                      # the jars, shared by every instance
M2="$SHARED/m2"
LIBS="$SHARED/libs"
STATE="${KAFKA_STATE_DIR:-$SHARED}"        # this instance's files
STATE="${STATE%/}"
DATA="${KAFKA_DATA_DIR:-$STATE/data}"
LOGS="${KAFKA_LOG_DIR:-$STATE/logs}"
PIDFILE="$STATE/kafka.pid"
CONFIG="$STATE/server.properties"
LOG4J_SERVER="$STATE/log4j2.properties"
LOG4J_TOOLS="$STATE/log4j2-tools.properties"
SCRAM_STAMP="$STATE/scram.stamp"

KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-9094}"
KAFKA_SCRAM_USER="${KAFKA_SCRAM_USER:-odds}"
KAFKA_SCRAM_PASSWORD="${KAFKA_SCRAM_PASSWORD:-odds-secret}"
SCRAM_MECHANISM=SCRAM-SHA-512
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1G -Xms512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
NODE_ID=1

# Same JVM flags as Kafka's bin/kafka-run-class.sh.
JVM_OPTS=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
          -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true)

log() { printf '[kafka] %s\n' "$*"; }
# A path as shown in messages: relative to the repo root when it lies inside it.
shown() { local p="$1"; [[ "$p" == "$ROOT"/* ]] && p="${p#"$ROOT"/}"; echo "$p"; }
err() { printf '[kafka] ERROR: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Probe: does a Kafka broker answer a Metadata request on host:port?
# Raw Kafka protocol over a socket (ApiVersions v0, then Metadata v4..v8), stdlib only, ~50 ms.
# Exit 0 = answers (prints a one-line summary), 2 = nothing listening, 3 = listening but not Kafka
# (or not ready: no brokers in the metadata yet).
# ---------------------------------------------------------------------------------------------
PROBE_PY='
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
def call(sock, api_key, version, corr, body=b""):
    client = b"kafka.sh-probe"
    hdr = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    msg = hdr + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf
    (size,) = struct.unpack(">i", read(4))
    if size < 4 or size > 64 * 1024 * 1024:
        raise ValueError("bad frame size %d" % size)
    data = read(size)
    (got,) = struct.unpack_from(">i", data, 0)
    if got != corr:
        raise ValueError("correlation id mismatch")
    return data, 4
try:
    sock = socket.create_connection((host, port), timeout=3)
except OSError as e:
    print("nothing answers at %s:%d (%s)" % (host, port, e.strerror or e))
    sys.exit(2)
try:
    sock.settimeout(5)
    data, off = call(sock, 18, 0, 1)                       # ApiVersions v0
    (error,) = struct.unpack_from(">h", data, off); off += 2
    (n,) = struct.unpack_from(">i", data, off); off += 4
    versions = {}
    for _ in range(n):
        k, lo, hi = struct.unpack_from(">hhh", data, off); off += 6
        versions[k] = (lo, hi)
    if error != 0 or 3 not in versions:
        raise ValueError("ApiVersions error %d" % error)
    lo, hi = versions[3]
    v = min(hi, 8)                                          # v9+ is the flexible encoding
    if v < max(lo, 4):
        print("kafka answers at %s:%d (ApiVersions ok; Metadata v%d-v%d not probed)" % (host, port, lo, hi))
        sys.exit(0)
    body = struct.pack(">i", 0) + b"\x00"                   # no topics, no auto-create
    if v >= 8:
        body += b"\x00\x00"                                 # no authorized-operations
    data, off = call(sock, 3, v, 2, body)
    off += 4                                                # throttle_time_ms
    def string(off):
        (ln,) = struct.unpack_from(">h", data, off); off += 2
        if ln < 0:
            return None, off
        return data[off:off + ln].decode(), off + ln
    (nb,) = struct.unpack_from(">i", data, off); off += 4
    brokers = []
    for _ in range(nb):
        (node,) = struct.unpack_from(">i", data, off); off += 4
        bhost, off = string(off)
        (bport,) = struct.unpack_from(">i", data, off); off += 4
        _rack, off = string(off)
        brokers.append("%d@%s:%d" % (node, bhost, bport))
    cluster, off = string(off)
    (controller,) = struct.unpack_from(">i", data, off)
    if not brokers:
        print("kafka at %s:%d answers but reports no brokers yet" % (host, port))
        sys.exit(3)
    print("kafka answers at %s:%d (cluster id %s, brokers %s, controller %d)"
          % (host, port, cluster, ",".join(brokers), controller))
except Exception as e:
    print("something listens at %s:%d but does not answer Kafka metadata (%s: %s)"
          % (host, port, type(e).__name__, e))
    sys.exit(3)
'

probe() {  # prints a summary; returns 0 / 2 / 3 as described above
  if command -v python3 >/dev/null 2>&1; then
    python3 -c "$PROBE_PY" "$KAFKA_HOST" "$KAFKA_PORT"
  else  # slower fallback (JVM start): the Kafka CLI itself
    if ! (exec 3<>"/dev/tcp/$KAFKA_HOST/$KAFKA_PORT") 2>/dev/null; then
      echo "nothing answers at $KAFKA_HOST:$KAFKA_PORT"; return 2
    fi
    [[ -d "$LIBS" ]] || { echo "port $KAFKA_HOST:$KAFKA_PORT open (no python3 and no jars to probe it)"; return 3; }
    if timeout 30 java -Dlog4j2.configurationFile="$LOG4J_TOOLS" -cp "$LIBS/*" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" --list >/dev/null 2>&1; then
      echo "kafka answers at $KAFKA_HOST:$KAFKA_PORT"; return 0
    fi
    echo "something listens at $KAFKA_HOST:$KAFKA_PORT but does not answer Kafka metadata"; return 3
  fi
}

# pid of the broker this script started, if it is still running (guards against pid reuse).
our_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $CONFIG" || return 1
  echo "$pid"
}

# Running and not a zombie (an exited child of PID 1 can linger as a zombie; kill -0 still succeeds).
alive() {
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Byte sizes of the logs when this 'up' started, so failures show only this run's lines.
declare -A LOG_MARK=()
mark_logs() {
  local f
  for f in "$LOGS/kafka.out" "$LOGS/server.log"; do
    LOG_MARK[$f]="$(stat -c %s "$f" 2>/dev/null || echo 0)"
  done
}

show_logs() {
  local f off size
  for f in "$LOGS/kafka.out" "$LOGS/server.log"; do
    [[ -s "$f" ]] || continue
    off="${LOG_MARK[$f]:-0}"
    size="$(stat -c %s "$f")"
    (( size >= off )) || off=0   # rotated meanwhile
    (( size > off )) || continue
    err "last lines of ${f#"$ROOT"/} from this start:"
    tail -c "+$((off + 1))" "$f" | tail -n 25 | sed 's/^/    /' >&2
  done
}

# ---------------------------------------------------------------------------------------------
# Jars
# ---------------------------------------------------------------------------------------------
ensure_jars() {
  local stamp="$LIBS/.pom.sha256" want
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found; install Maven (apt-get install maven) to resolve the Kafka jars"
  command -v java >/dev/null 2>&1 || die "java not found; Kafka 4.0 needs Java 17+"
  log "resolving Kafka jars from Maven Central into $(shown "$LIBS") (first run only; log: $(shown "$LOGS")/mvn.log)"
  local tmp="$SHARED/libs.tmp.$$"
  rm -rf "$tmp"
  if ! mvn -B -q -f "$POM" -Dmaven.repo.local="$M2" -Dstyle.color=never \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
        >"$LOGS/mvn.log" 2>&1; then
    tail -n 30 "$LOGS/mvn.log" | sed 's/^/    /' >&2
    rm -rf "$tmp"
    die "Maven could not resolve infra/kafka/pom.xml (see $(shown "$LOGS")/mvn.log)"
  fi
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  local jars=("$LIBS"/*.jar) core=("$LIBS"/kafka_2.13-*.jar) version
  version="${core[0]##*/kafka_2.13-}"
  log "resolved Kafka ${version%.jar} (${#jars[@]} jars)"
}

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
# Listeners are kept as parallel lists so another one (e.g. SASL_PLAINTEXT on another port) can be
# added here without touching the rest: name, bind/advertised host:port, security protocol.
listener_names=(PLAINTEXT SASL_PLAINTEXT)
listener_addrs=("$KAFKA_HOST:$KAFKA_PORT" "$KAFKA_HOST:$KAFKA_SASL_PORT")
listener_protocols=(PLAINTEXT SASL_PLAINTEXT)

# Does something accept TCP connections on host:port? (the SASL listener answers nothing before
# authentication but ApiVersions, so the metadata probe does not apply to it)
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

write_config() {  # $1 = where to write server.properties (default: the one the broker runs with)
  local config="${1:-$CONFIG}" listeners="" advertised="" protomap="CONTROLLER:PLAINTEXT" i
  for i in "${!listener_names[@]}"; do
    listeners+="${listener_names[$i]}://${listener_addrs[$i]},"
    advertised+="${listener_names[$i]}://${listener_addrs[$i]},"
    protomap+=",${listener_names[$i]}:${listener_protocols[$i]}"
  done
  listeners+="CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT"
  advertised="${advertised%,}"

  cat >"$config" <<EOF
# Generated by scripts/kafka.sh on every 'up'; edit the script, not this file.
# Single-node KRaft (Kafka 4.0): this JVM is both broker and the only controller voter.
process.roles=broker,controller
node.id=$NODE_ID
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protomap
inter.broker.listener.name=${listener_names[0]}

# SASL_PLAINTEXT listener: SCRAM-SHA-512 only, credentials kept in the KRaft metadata log.
# The login module needs no user or password here: brokers talk to each other over PLAINTEXT.
sasl.enabled.mechanisms=$SCRAM_MECHANISM
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

log.dirs=$DATA
num.partitions=8
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true

# One broker: internal topics cannot have more than one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# In combined mode a restarted node cannot re-register as a broker until its previous incarnation's
# session expires (controller log: DUPLICATE_BROKER_REGISTRATION), so every restart waited the
# default 9 s session timeout. 4 s (heartbeat every 1 s over loopback) halves the restart time.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000

num.network.threads=3
num.io.threads=8
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
EOF

  cat >"$LOG4J_SERVER" <<EOF
# Generated by scripts/kafka.sh. Broker logging (log4j2 via log4j-slf4j-impl).
status = warn
name = kafka-server
# Kafka's own shutdown hook logs the broker's shutdown; log4j2's hook would close the appenders first.
shutdownHook = disable
appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = $LOGS/server.log
appender.server.filePattern = $LOGS/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 50MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 5
appender.statechange.type = RollingFile
appender.statechange.name = statechange
appender.statechange.fileName = $LOGS/state-change.log
appender.statechange.filePattern = $LOGS/state-change.log.%i
appender.statechange.layout.type = PatternLayout
appender.statechange.layout.pattern = [%d] %p %m (%c)%n
appender.statechange.policies.type = Policies
appender.statechange.policies.size.type = SizeBasedTriggeringPolicy
appender.statechange.policies.size.size = 50MB
appender.statechange.strategy.type = DefaultRolloverStrategy
appender.statechange.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = INFO
logger.statechange.additivity = false
logger.statechange.appenderRef.statechange.ref = statechange
EOF

  cat >"$LOG4J_TOOLS" <<'EOF'
# Generated by scripts/kafka.sh. CLI tools (storage format, probes): warnings to stderr only.
status = warn
name = kafka-tools
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = stderr
EOF
}

cluster_id() { sed -n 's/^cluster.id=//p' "$DATA/meta.properties" 2>/dev/null; }

# What the scram.stamp of this instance holds once the SCRAM user exists in this data dir with this password.
scram_stamp() {
  local digest
  digest="$(printf '%s' "$KAFKA_SCRAM_PASSWORD" | sha256sum | cut -d' ' -f1)"
  echo "cluster=$(cluster_id) $SCRAM_MECHANISM user=$KAFKA_SCRAM_USER password-sha256=$digest"
}

format_storage() {
  if [[ -f "$DATA/meta.properties" ]]; then
    return 0
  fi
  local cluster_id
  cluster_id="$(java -Dlog4j2.configurationFile="$LOG4J_TOOLS" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$LOGS/format.log")" \
    || die "could not generate a cluster id (see $(shown "$LOGS")/format.log)"
  log "formatting KRaft storage in $(shown "$DATA") (cluster id $cluster_id, standalone controller quorum)"
  log "SCRAM user $KAFKA_SCRAM_USER ($SCRAM_MECHANISM) added at format time"
  if ! java -Dlog4j2.configurationFile="$LOG4J_TOOLS" -cp "$LIBS/*" kafka.tools.StorageTool format \
        --config "$CONFIG" --cluster-id "$cluster_id" --standalone --ignore-formatted \
        --add-scram "$SCRAM_MECHANISM=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]" \
        >>"$LOGS/format.log" 2>&1; then
    tail -n 20 "$LOGS/format.log" | sed 's/^/    /' >&2
    die "formatting the storage failed (see $(shown "$LOGS")/format.log)"
  fi
  scram_stamp >"$SCRAM_STAMP"
}

# The SCRAM user on a data dir formatted before the SASL listener existed (or with another
# password): upsert it through the PLAINTEXT listener of the running broker. No re-format.
ensure_scram_user() {
  if [[ -f "$SCRAM_STAMP" && "$(cat "$SCRAM_STAMP")" == "$(scram_stamp)" ]]; then
    return 0
  fi
  log "data dir $(shown "$DATA") has no record of SCRAM user $KAFKA_SCRAM_USER: adding it ($SCRAM_MECHANISM, kafka-configs --alter)"
  if ! timeout 120 java -Dlog4j2.configurationFile="$LOG4J_TOOLS" -cp "$LIBS/*" kafka.admin.ConfigCommand \
        --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" --alter --entity-type users \
        --entity-name "$KAFKA_SCRAM_USER" --add-config "$SCRAM_MECHANISM=[password=$KAFKA_SCRAM_PASSWORD]" \
        >>"$LOGS/format.log" 2>&1; then
    tail -n 20 "$LOGS/format.log" | sed 's/^/    /' >&2
    die "could not create SCRAM user $KAFKA_SCRAM_USER (see $(shown "$LOGS")/format.log); the PLAINTEXT listener works, the SASL one will refuse it"
  fi
  scram_stamp >"$SCRAM_STAMP"
}

# ---------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------
wait_until_ready() {  # $1 = pid of the broker
  local pid="$1" start=$SECONDS out rc
  while :; do
    rc=0; out="$(probe)" || rc=$?
    if [[ $rc -eq 0 ]]; then
      log "up in $((SECONDS - start)) s: $out (pid $pid, logs $(shown "$LOGS")/server.log)"
      return 0
    fi
    if ! alive "$pid"; then
      rm -f "$PIDFILE"
      show_logs
      die "the broker (pid $pid) exited during startup"
    fi
    if (( SECONDS - start >= KAFKA_START_TIMEOUT )); then
      show_logs
      die "the broker (pid $pid) did not answer metadata requests on $KAFKA_HOST:$KAFKA_PORT within ${KAFKA_START_TIMEOUT} s; it is still running (stop it with: scripts/kafka.sh down)"
    fi
    sleep 0.5
  done
}

cmd_up() {
  mkdir -p "$SHARED" "$STATE" "$LOGS"
  # One 'up' at a time (fd 9 is closed for the broker so it does not keep the lock).
  exec 9>"$STATE/.lock"
  flock -w 180 9 || die "another 'scripts/kafka.sh up' holds $(shown "$STATE")/.lock"

  local out rc=0 pid
  out="$(probe)" || rc=$?
  if [[ $rc -eq 0 ]]; then
    if ! pid="$(our_pid)"; then
      log "already running: $out"
      if ! port_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"; then
        err "no SASL listener on $KAFKA_HOST:$KAFKA_SASL_PORT: this broker was not started by scripts/kafka.sh (tests/integration/test_sasl.py needs one)"
      fi
      return 0
    fi
    # Ours: is it running with the configuration this script writes today (e.g. the SASL listener)?
    write_config "$CONFIG.next"
    if cmp -s "$CONFIG" "$CONFIG.next"; then
      rm -f "$CONFIG.next"
      ensure_scram_user
      log "already running: $out"
      return 0
    fi
    log "the running broker (pid $pid) has an out-of-date configuration; restarting it (clients reconnect). Changes to $(shown "$CONFIG"):"
    diff "$CONFIG" "$CONFIG.next" | sed -n 's/^\([<>]\) \([^#]\)/    \1 \2/p' || true
    rm -f "$CONFIG.next"
    ensure_scram_user  # while the old broker still serves: a shorter outage
    cmd_down
    rc=2
  fi
  if pid="$(our_pid)"; then
    # Our broker runs but does not answer here: still starting, or started for another host:port.
    local running_listeners
    running_listeners="$(sed -n 's/^listeners=//p' "$CONFIG" 2>/dev/null || true)"
    if [[ ",$running_listeners," != *"://$KAFKA_HOST:$KAFKA_PORT,"* ]]; then
      die "the broker started by this script (pid $pid) listens on ${running_listeners:-?}, not $KAFKA_HOST:$KAFKA_PORT; run scripts/kafka.sh down first"
    fi
    log "broker started earlier (pid $pid) is not answering yet; waiting for it"
    wait_until_ready "$pid"
    return 0
  fi
  if [[ $rc -eq 3 ]]; then
    die "$out. Port $KAFKA_PORT is taken by something this script did not start; free it or set KAFKA_PORT"
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_CONTROLLER_PORT") 2>/dev/null; then
    die "the controller port 127.0.0.1:$KAFKA_CONTROLLER_PORT is already in use; free it or set KAFKA_CONTROLLER_PORT"
  fi
  rm -f "$PIDFILE"

  if port_open 127.0.0.1 "$KAFKA_SASL_PORT"; then
    die "the SASL port 127.0.0.1:$KAFKA_SASL_PORT is already in use; free it or set KAFKA_SASL_PORT"
  fi
  ensure_jars
  write_config
  format_storage

  log "starting broker on $KAFKA_HOST:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
  echo "===== $(date -Is) scripts/kafka.sh up =====" >>"$LOGS/kafka.out"
  mark_logs
  # setsid: own session, so the broker outlives the calling shell and its Ctrl-C.
  # shellcheck disable=SC2086
  setsid java $KAFKA_HEAP_OPTS "${JVM_OPTS[@]}" \
    -Dkafka.logs.dir="$LOGS" -Dlog4j2.configurationFile="$LOG4J_SERVER" \
    -cp "$LIBS/*" kafka.Kafka "$CONFIG" \
    </dev/null >>"$LOGS/kafka.out" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_until_ready "$pid"
  wait_for_sasl "$pid"
  ensure_scram_user
}

wait_for_sasl() {  # $1 = pid of the broker; the listeners open together, so this is short
  local start=$SECONDS
  until port_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"; do
    if ! alive "$1" || (( SECONDS - start >= 30 )); then
      show_logs
      die "the broker answers on $KAFKA_HOST:$KAFKA_PORT but its SASL listener $KAFKA_HOST:$KAFKA_SASL_PORT does not"
    fi
    sleep 0.3
  done
  log "SASL_PLAINTEXT ($SCRAM_MECHANISM) listener on $KAFKA_HOST:$KAFKA_SASL_PORT, user $KAFKA_SCRAM_USER"
}

cmd_down() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PIDFILE"
    local out rc=0
    out="$(probe)" || rc=$?
    if [[ $rc -eq 0 ]]; then
      log "not started by this script, leaving it alone: $out"
    else
      log "not running"
    fi
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local start=$SECONDS
  while alive "$pid"; do
    if (( SECONDS - start >= KAFKA_STOP_TIMEOUT )); then
      err "broker (pid $pid) still running after ${KAFKA_STOP_TIMEOUT} s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.3
  done
  rm -f "$PIDFILE"
  log "stopped in $((SECONDS - start)) s"
}

cmd_status() {
  local out rc=0 pid
  out="$(probe)" || rc=$?
  if pid="$(our_pid)"; then
    out+=" [a broker started by scripts/kafka.sh runs: pid $pid]"
  fi
  log "$out"
  if port_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"; then
    log "SASL listener accepts connections on $KAFKA_HOST:$KAFKA_SASL_PORT"
  elif [[ $rc -eq 0 ]]; then
    log "no SASL listener on $KAFKA_HOST:$KAFKA_SASL_PORT"
  fi
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
