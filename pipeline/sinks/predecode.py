"""Decode the values of a whole fetched batch in one worker-thread call, ahead of delivery.

Decoding may fetch a writer schema from the registry (blocking HTTP), so it never runs on
the event loop.  Sending each record to a worker thread on its own, inside its delivery
slot, cost a thread round trip per record: 10-20 ms of waiting for the GIL per record at
1,000 records/s, all of it while the slot was held (bench/sinks.py).  The runtime now
starts one decode per fetched batch as the batch arrives; the records wait for their turn
in the scheduler anyway, so by the time a record's job starts its value is decoded.

Only successes are taken from here: a value that fails to decode (or is not attempted) is
decoded again by ``RecordProcessor`` the usual way, which owns the error handling (DLQ for
bad values, waiting for an unavailable registry).  After the first ``registry-unavailable``
the rest of the batch is left to that path rather than waiting for the registry once per
record in one thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.serde import DecodeError
from pipeline.sinks.records import DecodeFn

NOT_DECODED: Any = object()


@dataclass(frozen=True)
class Predecoded:
    """One record's slot in its batch's decode."""

    batch: asyncio.Future[list[Any]]
    index: int

    async def value(self) -> Any:
        """The decoded value, or ``NOT_DECODED`` (decode it the usual way)."""
        try:
            results = await asyncio.shield(self.batch)
        except Exception:  # the worker call itself failed: nothing was decoded
            return NOT_DECODED
        return results[self.index]


def start_batch_decode(decode: DecodeFn, values: Sequence[bytes | None]) -> list[Predecoded]:
    """Start decoding ``values`` in the loop's default executor; one handle per value."""
    batch = asyncio.get_running_loop().run_in_executor(None, decode_all, decode, list(values))
    batch.add_done_callback(_retrieve)
    return [Predecoded(batch, index) for index in range(len(values))]


def decode_all(decode: DecodeFn, values: list[bytes | None]) -> list[Any]:
    """Decoded values in order; ``NOT_DECODED`` where decoding failed or was not tried."""
    out: list[Any] = [NOT_DECODED] * len(values)
    for index, value in enumerate(values):
        try:
            out[index] = decode(value)
        except DecodeError as exc:
            if exc.reason == "registry-unavailable":
                break
        except Exception:  # noqa: S112 - the processor decodes it again and reports it
            continue
    return out


def _retrieve(future: asyncio.Future[list[Any]]) -> None:
    if not future.cancelled():
        future.exception()
