"""The odds agent's Kafka output: a batch's records sent as one transaction (``transaction``),
queued per batch (``outbox``) by a producer made for it (``producer``)."""
