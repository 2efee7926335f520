#!/usr/bin/env bash
# All local services the platform needs: MariaDB, a single-node Kafka and RabbitMQ (the broker of
# the UOF AMQP ingestor's tests).
#
#   scripts/services.sh up       start all three (idempotent; a fast no-op when all already answer)
#   scripts/services.sh down     stop all three (idempotent)
#   scripts/services.sh status   report all three; exit 0 only if all answer
#
# Environment is passed through: MYSQL_DSN, MARIADB_* (scripts/mariadb.sh), KAFKA_*
# (scripts/kafka.sh) and RABBITMQ_* (scripts/rabbitmq.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

case "${1:-}" in
  up)
    "$HERE/mariadb.sh" up
    "$HERE/kafka.sh" up
    "$HERE/rabbitmq.sh" up
    ;;
  down)
    rc=0
    "$HERE/rabbitmq.sh" down || rc=$?
    "$HERE/kafka.sh" down || rc=$?
    "$HERE/mariadb.sh" down || rc=$?
    exit "$rc"
    ;;
  status)
    rc=0
    "$HERE/mariadb.sh" status || rc=1
    "$HERE/kafka.sh" status || rc=1
    "$HERE/rabbitmq.sh" status || rc=1
    exit "$rc"
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
