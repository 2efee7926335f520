"""Which AMQP deliveries may be acknowledged: those whose records Kafka has acknowledged."""

from __future__ import annotations


class AckWindow:
    """Delivery tags of one channel (1, 2, 3, ...) completing in any order; the watermark is
    the highest tag at and below which every delivery has completed, so one ``multiple``
    acknowledgement up to it never acknowledges a message Kafka has not got."""

    __slots__ = ("_completed", "acked", "watermark")

    def __init__(self) -> None:
        self._completed: set[int] = set()
        self.watermark = 0
        #: The highest tag already acknowledged to the broker.
        self.acked = 0

    def complete(self, tag: int) -> bool:
        """Mark delivery ``tag`` as safe in Kafka; return whether the watermark moved."""
        if tag != self.watermark + 1:
            if tag > self.watermark:
                self._completed.add(tag)
            return False
        watermark = tag
        completed = self._completed
        while completed and watermark + 1 in completed:
            watermark += 1
            completed.discard(watermark)
        self.watermark = watermark
        return True

    def to_acknowledge(self) -> int | None:
        """Return the tag to acknowledge with ``multiple`` now, or None when nothing is new."""
        if self.watermark <= self.acked:
            return None
        self.acked = self.watermark
        return self.acked

    @property
    def pending(self) -> int:
        """Deliveries completed out of order, waiting for an earlier one."""
        return len(self._completed)
