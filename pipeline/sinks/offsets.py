"""Per-partition offset tracking for out-of-order completion.

Records of one partition finish out of order (different keys run concurrently), but Kafka
only stores one committed offset per partition.  The safe offset to commit is the *lowest
unfinished* offset: everything below it is delivered, dead-lettered or parked.  Offsets that
were fetched and dropped (revoke, shutdown) stay unfinished, so a commit never passes them.

Thread-safe: the consumer thread adds offsets and commits; the asyncio loop marks them done.
"""

from __future__ import annotations

import heapq
import threading


class PartitionOffsets:
    """Unfinished offsets of one partition and the offset that is safe to commit."""

    def __init__(self) -> None:
        self._pending: list[int] = []  # min-heap of started offsets (lazy deletion)
        self._done: set[int] = set()  # finished offsets still in the heap
        self._next: int | None = None  # one past the highest offset seen
        self.committed: int | None = None  # last offset committed for this partition

    def add(self, offset: int) -> bool:
        """Register a fetched offset; False for an offset already seen (a re-fetch)."""
        if self._next is not None and offset < self._next:
            return False
        heapq.heappush(self._pending, offset)
        self._next = offset + 1
        return True

    def done(self, offset: int) -> None:
        self._done.add(offset)
        while self._pending and self._pending[0] in self._done:
            self._done.discard(heapq.heappop(self._pending))

    @property
    def in_flight(self) -> int:
        return len(self._pending) - len(self._done)

    def commit_offset(self) -> int | None:
        """Offset to commit (the next record to read after a restart) or None if none seen."""
        if self._pending:
            return self._pending[0]
        return self._next


class OffsetTracker:
    """``PartitionOffsets`` for every assigned (topic, partition)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[tuple[str, int], PartitionOffsets] = {}

    def add(self, topic: str, partition: int, offset: int) -> bool:
        with self._lock:
            part = self._parts.setdefault((topic, partition), PartitionOffsets())
            return part.add(offset)

    def done(self, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            part = self._parts.get((topic, partition))
            if part is not None:
                part.done(offset)

    def in_flight(self, parts: list[tuple[str, int]] | None = None) -> int:
        with self._lock:
            keys = parts if parts is not None else list(self._parts)
            return sum(self._parts[k].in_flight for k in keys if k in self._parts)

    def to_commit(self, parts: list[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
        """Offsets that advanced since the last commit (call ``mark_committed`` after)."""
        with self._lock:
            keys = parts if parts is not None else list(self._parts)
            out: dict[tuple[str, int], int] = {}
            for key in keys:
                part = self._parts.get(key)
                if part is None:
                    continue
                offset = part.commit_offset()
                if offset is not None and offset != part.committed:
                    out[key] = offset
            return out

    def position(self, topic: str, partition: int) -> int | None:
        """Lowest unfinished offset (or one past the last seen) of a partition."""
        with self._lock:
            part = self._parts.get((topic, partition))
            return None if part is None else part.commit_offset()

    def mark_committed(self, offsets: dict[tuple[str, int], int]) -> None:
        with self._lock:
            for key, offset in offsets.items():
                if key in self._parts:
                    self._parts[key].committed = offset

    def forget(self, parts: list[tuple[str, int]]) -> None:
        """Drop revoked partitions (their unfinished records will be re-fetched elsewhere)."""
        with self._lock:
            for key in parts:
                self._parts.pop(key, None)
