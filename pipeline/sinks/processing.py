"""What the sink does with one fetched record: decode, barrier check, deliver, route outcome.

Outcome routing (the offset is marked finished only after the copy/ledger write is acked):

- DELIVERED / DUPLICATE / CONFLICT_PARKED -> finished (and the key's barrier head popped);
- RETRY_LATER -> copy to ``sync.<target>.retry`` with the error headers, ``vb-not-before``
  (growing delay per round) and ``vb-retry-round``; after ``max_retry_rounds`` -> DLQ;
  with barrier ``block`` the record is retried in place instead (its lane waits, its
  partition is paused);
- DEAD_LETTER / CONFLICT / undecodable value -> ``sync.<target>.dlq`` with all error headers;
- PAUSE_AUTH -> every partition paused, the record retried every ``auth_retry_s`` until the
  credentials work again; never committed, never dead-lettered.

Barrier policy ``park`` (see ``barriers.py``) decides whether a record may go at all.

Ledger entries of delivered operations are acknowledged *after* ``process`` returns: it
hands back their ``LedgerWrites`` and ``process_safely`` turns them into a *settle*
awaitable; the runtime frees the record's slot, keeps its key reserved and marks the
offset finished only when the settle returns (see ``ledger_writes.py`` for why that keeps
the commit and per-key order guarantees).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from confluent_kafka import Message

from connectors.base.connector import SyncRecord
from pipeline import headers as H
from pipeline.observability import SinkMetrics, span_from_headers
from pipeline.serde import DecodeError
from pipeline.sinks.barriers import BarrierBook, value_digest
from pipeline.sinks.copies import CopyWriter
from pipeline.sinks.forwarding import AsyncProducer, ProduceError, headers_to_dict
from pipeline.sinks.ledger import LedgerError
from pipeline.sinks.ledger_writes import LedgerWrites
from pipeline.sinks.predecode import NOT_DECODED, Predecoded
from pipeline.sinks.records import (
    FINISHED,
    DecodeFn,
    DeliverFn,
    OutcomeLike,
    SinkTopics,
    header_int,
    kind_name,
    record_id,
    record_key,
)
from pipeline.sinks.settings import BarrierPolicy, SinkSettings

log = logging.getLogger(__name__)


class Pauser(Protocol):
    def set_pause(self, reason: str, on: bool, tp: tuple[str, int] | None = None) -> None: ...


class RecordProcessor:
    """Handles one record end to end; concurrency and order are the scheduler's job."""

    def __init__(
        self,
        *,
        target: str,
        connector: str,
        connector_version: str,
        topics: SinkTopics,
        sink: SinkSettings,
        deliver: DeliverFn,
        decode: DecodeFn,
        producer: AsyncProducer,
        barriers: BarrierBook,
        pauser: Pauser,
        metrics_: SinkMetrics,
    ) -> None:
        self.target = target
        self.connector = connector
        self.connector_version = connector_version
        self.topics = topics
        self.sink = sink
        self._deliver = deliver
        self._decode = decode
        self.barriers = barriers
        self._pauser = pauser
        self.metrics = metrics_
        self.copies = CopyWriter(
            target=target,
            connector=connector,
            connector_version=connector_version,
            topics=topics,
            sink=sink,
            producer=producer,
            metrics_=metrics_,
        )
        self._auth_paused = False

    # ---- entry -----------------------------------------------------------------------
    async def process_safely(
        self, msg: Message, predecoded: Predecoded | None = None
    ) -> Awaitable[None] | None:
        """``process`` that never loses the record and never crash-loops: broker or ledger
        trouble -> the same record again after ``block_retry_s``; anything else (a bug) ->
        the DLQ with error class ``internal`` (details in the log, not in the headers).

        Returns None when the record is finished, else an awaitable that finishes it (the
        acknowledgements of its ledger entries; a failed ledger write is written again)."""
        while True:
            try:
                writes = await self.process(msg, predecoded)
                if writes is None:
                    return None
                return writes.wait(self.sink.block_retry_s)
            except (ProduceError, LedgerError) as exc:
                log.warning(
                    "%s: %s; trying the record again in %.1fs",
                    self.target,
                    exc,
                    self.sink.block_retry_s,
                )
            except Exception as exc:
                log.error(
                    "%s: the sink failed on record %s:%s@%s with %s",
                    self.target,
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    type(exc).__name__,
                    exc_info=exc,
                )
                hdrs = headers_to_dict(msg.headers())
                try:
                    await self.copies.to_dlq(
                        msg,
                        hdrs,
                        record_id(msg, hdrs),
                        "internal",
                        f"the sink runtime raised {type(exc).__name__} on this record; see the "
                        "sink log, fix, then replay",
                        header_int(hdrs.get(H.ATTEMPTS)),
                    )
                    return None
                except ProduceError as produce_error:
                    log.warning("%s: %s", self.target, produce_error)
            await asyncio.sleep(self.sink.block_retry_s)

    async def process(
        self, msg: Message, predecoded: Predecoded | None = None
    ) -> LedgerWrites | None:
        """Handle the record; returns the ledger writes still to be acknowledged, if any.
        ``predecoded``: its value decoded ahead (``predecode.py``), used when it worked."""
        hdrs = headers_to_dict(msg.headers())
        rid = record_id(msg, hdrs)
        key = record_key(msg)
        from_retry = msg.topic() == self.topics.retry
        round_no = header_int(hdrs.get(H.RETRY_ROUND)) if from_retry else 0
        prior_attempts = header_int(hdrs.get(H.ATTEMPTS))
        try:
            event = NOT_DECODED if predecoded is None else await predecoded.value()
            if event is NOT_DECODED:
                event = await self._decode_value(msg.value())
        except DecodeError as exc:
            await self.copies.to_dlq(
                msg, hdrs, rid, "decode", f"{exc.reason}: {exc}", prior_attempts
            )
            return None
        digest = value_digest(msg.value())
        if self.sink.barrier is BarrierPolicy.PARK and msg.key() is not None:
            barrier = self.barriers.get(key)
            if barrier is not None and H.REPLAY_ID in hdrs and rid not in barrier.pending:
                rid = barrier.match_digest(digest) or rid  # a replay of a parked record
            # a retry-topic copy that is not in the list is a stale copy of a record already
            # delivered: it goes through and the ledger turns it into a no-op
            blocked = barrier is not None and barrier.head != rid
            if barrier is not None and blocked and (rid in barrier.pending or not from_retry):
                await self.copies.park(msg, hdrs, rid, barrier.head or "", barrier.dead)
                if rid not in barrier.pending:
                    await self.barriers.append(key, rid, digest=digest)
                return None
        record = SyncRecord(
            key=key,
            event=event,
            operation=hdrs.get(H.OPERATION),
            hints=self._hints(hdrs),
            headers=hdrs,
        )
        return await self._deliver_and_route(
            msg, hdrs, rid, key, record, round_no, prior_attempts, digest
        )

    async def _decode_value(self, value: bytes | None) -> Any:
        while True:
            try:
                return await asyncio.to_thread(self._decode, value)
            except DecodeError as exc:
                if exc.reason != "registry-unavailable":
                    raise
                log.warning("schema registry unavailable; decoding again in 2s")
                await asyncio.sleep(2.0)

    @staticmethod
    def _hints(hdrs: Mapping[str, str]) -> Mapping[str, Any]:
        try:
            hints = json.loads(hdrs.get(H.HINTS) or "{}")
        except ValueError:
            return {}
        return hints if isinstance(hints, dict) else {}

    # ---- delivery and outcomes -------------------------------------------------------
    async def _deliver_and_route(
        self,
        msg: Message,
        hdrs: dict[str, str],
        rid: str,
        key: str,
        record: SyncRecord,
        round_no: int,
        prior_attempts: int,
        digest: str,
    ) -> LedgerWrites | None:
        tp = (msg.topic() or "", msg.partition() or 0)
        writes: LedgerWrites | None = None  # of every attempt below (auth/block retries)
        while True:
            attributes = {
                "voicebus.target": self.target,
                "messaging.kafka.partition": tp[1],
                "messaging.kafka.offset": msg.offset() or 0,
                "voicebus.record_id": rid,
            }
            with span_from_headers(f"sink.process {self.target}", hdrs, attributes):
                outcome = await self._deliver(record, prior_attempts)
            pending = getattr(outcome, "ledger_writes", None)
            if pending is not None and writes is None:
                writes = pending
            elif pending is not None and writes is not None:
                writes.extend(pending)
            kind = kind_name(outcome)
            if kind == "PAUSE_AUTH":
                self._set_auth_pause(True, outcome)
                await asyncio.sleep(self.sink.auth_retry_s)
                continue
            self._set_auth_pause(False, outcome)
            if kind == "RETRY_LATER" and self.sink.barrier is BarrierPolicy.BLOCK:
                self._pauser.set_pause(f"block:{rid}", True, tp)
                prior_attempts = max(prior_attempts, outcome.attempts)
                await asyncio.sleep(self.sink.block_retry_s)
                continue
            self._pauser.set_pause(f"block:{rid}", False, tp)
            break
        # records without a key have no per-key order to keep (only the partition's)
        park = self.sink.barrier is BarrierPolicy.PARK and msg.key() is not None
        if kind in FINISHED:
            barrier = self.barriers.get(key) if park else None
            if barrier is not None and rid in barrier.pending:
                # lift the barrier only once the ledger entries are acknowledged: after a
                # crash in between, the records parked behind this one must not overtake
                # its repeat (a rare path: only keys that had a record in retry)
                if writes is not None:
                    await writes.wait(self.sink.block_retry_s)
                    writes = None
                await self.barriers.remove(key, rid)
            return writes
        if kind == "RETRY_LATER":
            next_round = round_no + 1
            if next_round > self.sink.max_retry_rounds:
                reason = f"retry budget spent after {round_no} retry rounds: {outcome.message}"
                await self.copies.to_dlq(
                    msg,
                    hdrs,
                    rid,
                    outcome.error_class or "retryable",
                    reason,
                    outcome.attempts,
                    outcome,
                )
                if park:  # the key waits for this record's replay
                    await self.barriers.append(key, rid, digest=digest, dead=True)
                return writes
            await self.copies.to_retry(msg, hdrs, rid, outcome, next_round)
            if park:
                await self.barriers.append(key, rid, digest=digest)
            return writes
        # DEAD_LETTER, CONFLICT (no conflict handler) or an unknown kind
        error_class = outcome.error_class or kind.lower()
        await self.copies.to_dlq(
            msg, hdrs, rid, error_class, outcome.message or kind.lower(), outcome.attempts, outcome
        )
        if park:
            if self.sink.park_on_dead_letter:
                await self.barriers.append(key, rid, digest=digest, dead=True)
            else:  # a permanent failure of the blocker releases the records behind it
                await self.barriers.remove(key, rid)
        return writes

    def _set_auth_pause(self, on: bool, outcome: OutcomeLike) -> None:
        if on == self._auth_paused:
            return
        self._auth_paused = on
        self._pauser.set_pause("auth", on)
        if on:
            log.error(
                "%s rejected our credentials even after a refresh (%s); consumption paused, "
                "retrying every %.0fs; fix the %s credentials (nothing is dead-lettered)",
                self.target,
                outcome.message,
                self.sink.auth_retry_s,
                self.target,
            )
        else:
            log.warning("%s accepts our credentials again; consumption resumed", self.target)
