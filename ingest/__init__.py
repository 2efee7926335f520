"""Live ingestion: clients of the providers' own protocols that land their feeds on Kafka."""
