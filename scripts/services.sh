#!/usr/bin/env bash
# All local services the platform needs: MariaDB and a single-node Kafka.
#
#   scripts/services.sh up       start both (idempotent; a fast no-op when both already answer)
#   scripts/services.sh down     stop both (idempotent)
#   scripts/services.sh status   report both; exit 0 only if both answer
#
# Environment is passed through: MYSQL_DSN, MARIADB_* (scripts/mariadb.sh) and KAFKA_* (scripts/kafka.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

case "${1:-}" in
  up)
    "$HERE/mariadb.sh" up
    "$HERE/kafka.sh" up
    ;;
  down)
    rc=0
    "$HERE/kafka.sh" down || rc=$?
    "$HERE/mariadb.sh" down || rc=$?
    exit "$rc"
    ;;
  status)
    rc=0
    "$HERE/mariadb.sh" status || rc=1
    "$HERE/kafka.sh" status || rc=1
    exit "$rc"
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
