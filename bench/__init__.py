"""The benchmark harness: real Kafka, MariaDB and worker processes (``python -m bench.run``)."""
