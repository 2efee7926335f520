#!/usr/bin/env bash
# The main job: one worker plus the demo feed generator; Ctrl-C stops both.
# Expects `make up topics` to have run (the Makefile's `run` target does that).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
WEB_PORT="${WEB_PORT:-6066}"
WEB_HOST="${WEB_HOST:-127.0.0.1}"
LOG_DIR="${LOG_DIR:-$ROOT/data/logs}"
mkdir -p "$LOG_DIR"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "[run] stopping worker and generator"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

# Names of markets and outcomes for everything the simulator plays (idempotent: a reload
# replaces the same keys of a compacted topic).
"$BIN/faust" -A app descriptions load feeds/descriptions/markets.xml

"$BIN/faust" -A app worker -l info >"$LOG_DIR/worker.log" 2>&1 &
pids+=($!)
echo "[run] worker started (log: $LOG_DIR/worker.log); waiting for it to serve on :$WEB_PORT"
for _ in $(seq 1 120); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$WEB_HOST:$WEB_PORT/events/none:none:0" || true)
  [ "$code" = "404" ] && break
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "[run] worker exited; last log lines:" >&2; tail -n 30 "$LOG_DIR/worker.log" >&2; exit 1
  fi
  sleep 0.5
done

# Event ids start at the current time in ms, so a rerun never collides with settled events.
FIRST_ID=$(date +%s%3N)
"$BIN/faust" -A app simulate --events "${DEMO_EVENTS:-20}" --first-id "$FIRST_ID" \
  >"$LOG_DIR/simulator.log" 2>&1 &
pids+=($!)

cat <<MSG
[run] a live-match simulator is feeding ${DEMO_EVENTS:-20} football matches (log: $LOG_DIR/simulator.log)
[run] live odds board:   http://$WEB_HOST:$WEB_PORT/
[run] events (JSON):     http://$WEB_HOST:$WEB_PORT/events   (first match: /events/sr:match:$FIRST_ID)
[run] Ctrl-C stops the worker and the simulator (services stay up; 'make down' stops them)
MSG
wait -n "${pids[@]}"
echo "[run] a process exited; see $LOG_DIR" >&2
