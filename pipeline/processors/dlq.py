"""Dead letters for records of ``voice.call-events`` the processors cannot read.

The DLQ record keeps the original key, value and headers byte for byte (so ``voicebus dlq
replay`` can send it back unchanged once the cause is fixed) and adds the error headers of
pipeline.headers.  Messages say what is wrong and where, never the record's content.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pipeline import headers as h

__all__ = ["dead_letter_headers"]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_letter_headers(
    original: Iterable[tuple[str, bytes | None]] | None,
    *,
    error_class: str,
    message: str,
    topic: str,
    partition: int,
    offset: int,
    failed_at: str | None = None,
) -> list[tuple[str, bytes]]:
    """The original headers (previous error headers replaced) plus this failure's."""
    at = failed_at or _now_iso()
    kept = [
        (k, v if v is not None else b"")
        for k, v in (original or ())
        if k not in h.ALL_VB_ERROR_HEADERS
    ]
    return [
        *kept,
        (h.ERROR_CLASS, error_class.encode()),
        (h.ERROR_MESSAGE, message[:1000].encode()),
        (h.SOURCE_TOPIC, topic.encode()),
        (h.SOURCE_PARTITION, str(partition).encode()),
        (h.SOURCE_OFFSET, str(offset).encode()),
        (h.FIRST_FAILURE_AT, at.encode()),
        (h.LAST_FAILURE_AT, at.encode()),
        (h.ATTEMPTS, b"1"),
    ]
