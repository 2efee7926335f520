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

"$BIN/faust" -A app generate --events "${DEMO_EVENTS:-20}" --rate "${DEMO_RATE:-20}" \
  >"$LOG_DIR/generator.log" 2>&1 &
pids+=($!)

cat <<MSG
[run] live odds are being generated for events sr:match:1000 .. sr:match:$((1000 + ${DEMO_EVENTS:-20} - 1))
[run] read them at:  http://$WEB_HOST:$WEB_PORT/events/sr:match:1000
[run] Ctrl-C stops the worker and the generator (services stay up; 'make down' stops them)
MSG
wait -n "${pids[@]}"
echo "[run] a process exited; see $LOG_DIR" >&2
