"""The Slack connector: call summaries and real-time insights, one thread per call.

Slack has no upsert, so the sync ledger is what prevents double posts: every operation has an
idempotency key (see ``mapping``) and the ledger entry of a call's parent message holds the
thread's ``channel:ts``.  Replies look the parent up in this process's memory first, then in
the sync ledger (so threads survive restarts): the sink's own ledger when the runtime binds
it (``bind_ledger``), else one the connector opens itself on first use (``create_connector``
gives it a ``KafkaLedger`` of target ``slack`` on the ``_voicebus.sync-ledger`` topic; on a
miss it catches up with the topic first, so a parent posted by another instance before a
rebalance is found).

Pacing: Slack allows about one message per second per channel (short bursts tolerated); a
``TokenBucket`` per channel (``VOICEBUS_SLACK_CHANNEL_RATE_PER_S``) spaces posts before they
are sent, on top of the shared per-target bucket of the resilience layer.  A 429 still
becomes ``ThrottledError(retry_after)`` and the resilience layer waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import httpx

from connectors.base.connector import Connector, DeliveryResult, Operation, SyncRecord
from connectors.base.errors import PermanentError, RetryableError
from connectors.base.settings import reload_settings
from connectors.slack.client import SlackClient
from connectors.slack.config import SlackSettings
from connectors.slack.mapping import OPERATIONS, ThreadRef, map_record
from pipeline.resilience.ratelimit import TokenBucket
from pipeline.resilience.target import ResilienceSettings
from pipeline.sinks.ledger import KafkaLedger, LedgerEntry, LedgerError, SyncLedger

log = logging.getLogger(__name__)


def _load_settings() -> SlackSettings:
    return SlackSettings()  # fields come from the environment


class SlackConnector(Connector):
    name: ClassVar[str] = "slack"
    version: ClassVar[str] = "0.1.0"
    natural_upsert: ClassVar[bool] = False

    def __init__(
        self,
        settings: SlackSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        reload_settings: Callable[[], SlackSettings] = _load_settings,
        ledger: SyncLedger | None = None,
        ledger_factory: Callable[[], SyncLedger] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings if settings is not None else reload_settings()
        self._reload_settings = reload_settings
        self.client = SlackClient(
            self.settings.base_url,
            self.settings.bot_token,
            self.settings.http,
            transport=transport,
            user_agent=f"voicebus-slack/{self.version}",
        )
        self.ledger = ledger
        self._ledger_factory = ledger_factory
        self._owned_ledger: SyncLedger | None = None
        self._ledger_lock = asyncio.Lock()
        self._unsaved: set[str] = set()  # thread parents posted but not yet in the ledger
        self._threads: dict[str, ThreadRef] = {}
        self._buckets: dict[str, TokenBucket] = {}  # per channel id (or name until known)
        self._channel_ids: dict[str, str] = {}  # "#support" -> "C0SUPPORT1"
        self._clock = clock
        self._sleep = sleep
        self.credential_refreshes = 0

    @property
    def resilience_settings(self) -> ResilienceSettings:
        return self.settings.resilience

    def bind_ledger(self, ledger: SyncLedger) -> None:
        """Give the connector the sink's sync ledger (thread parents after a restart)."""
        self.ledger = ledger

    def map_record(self, record: SyncRecord) -> list[Operation]:
        return map_record(record, self.settings.default_channel)

    # ---- delivery ----------------------------------------------------------------------
    async def deliver(self, operation: Operation) -> DeliveryResult:
        if operation.kind not in OPERATIONS:
            raise PermanentError(f"slack: unknown operation kind {operation.kind!r} (mapping bug)")
        payload = operation.payload
        event_id = str(payload["event_id"])
        key = str(payload["thread_key"])
        parent = await self.thread(key)
        if parent is None:
            parent = await self._post_parent(
                key, str(payload["channel"]), payload["parent"], event_id
            )
        if payload.get("parent_is_reply") and parent.origin_event_id == event_id:
            # this summary is the thread's parent message: nothing more to post
            return DeliveryResult(external_id=parent.encode(), detail={"ts": parent.ts})
        await self._pace(parent.channel)
        posted = await self.client.post_message(
            {"channel": parent.channel, "thread_ts": parent.ts, **dict(payload["reply"])}
        )
        return DeliveryResult(
            external_id=f"{posted.channel}:{posted.ts}",
            detail={"ts": posted.ts, "thread_ts": parent.ts},
        )

    async def _post_parent(
        self, key: str, channel: str, message: Mapping[str, Any], event_id: str
    ) -> ThreadRef:
        """Post the call's first message in ``channel`` and remember it in the ledger."""
        await self._pace(self._channel_ids.get(channel, channel))
        posted = await self.client.post_message({"channel": channel, **dict(message)})
        if channel not in self._channel_ids:  # the name's bucket is the channel id's bucket
            self._channel_ids[channel] = posted.channel
            if channel in self._buckets:
                self._buckets.setdefault(posted.channel, self._buckets[channel])
        ref = ThreadRef(posted.channel, posted.ts, event_id)
        self._threads[key] = ref
        self._unsaved.add(key)
        await self._save_thread(key, ref)
        return ref

    async def _save_thread(self, key: str, ref: ThreadRef) -> None:
        """Write the parent's ledger entry.  On failure the parent stays in memory (never
        posted twice by this process) and the record is retried, which writes it again."""
        ledger = await self._ledger()
        if ledger is None:
            self._unsaved.discard(key)
            return
        try:
            await ledger.put(self.name, key, LedgerEntry("delivered", external_id=ref.encode()))
        except LedgerError as exc:
            raise RetryableError(
                f"slack: thread parent of {key.split(':thread@')[0]} posted but its sync "
                f"ledger entry could not be written ({exc}); will retry the write"
            ) from None
        self._unsaved.discard(key)

    async def thread(self, key: str) -> ThreadRef | None:
        """The call's thread parent: posted by this process, else from the sync ledger."""
        ref = self._threads.get(key)
        if ref is not None:
            if key in self._unsaved:
                await self._save_thread(key, ref)
            return ref
        ledger = await self._ledger()
        if ledger is None:
            return None
        entry = await ledger.get(self.name, key)
        if entry is None and ledger is self._owned_ledger:
            catch_up = getattr(ledger, "catch_up", None)
            if callable(catch_up):  # another instance may have posted it before a rebalance
                await catch_up()
                entry = await ledger.get(self.name, key)
        if entry is None or entry.outcome != "delivered" or not entry.external_id:
            return None
        ref = ThreadRef.decode(entry.external_id)
        if ref is not None:
            self._threads[key] = ref
        return ref

    async def _ledger(self) -> SyncLedger | None:
        if self.ledger is not None or self._ledger_factory is None:
            return self.ledger
        async with self._ledger_lock:
            if self.ledger is None:
                ledger = self._ledger_factory()
                try:
                    await ledger.start()
                except LedgerError as exc:
                    raise RetryableError(
                        f"slack: the sync ledger for call threads could not be loaded ({exc})"
                    ) from None
                self.ledger = self._owned_ledger = ledger
        return self.ledger

    async def _pace(self, channel: str) -> None:
        rate = self.settings.channel_rate_per_s
        if rate <= 0:
            return
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = TokenBucket(
                rate, self.settings.channel_burst, clock=self._clock, sleep=self._sleep
            )
            self._buckets[channel] = bucket
        await bucket.acquire()

    async def refresh_credentials(self) -> None:
        """Re-read the bot token (an operator may have reinstalled the app after a 401)."""
        self.credential_refreshes += 1
        fresh = reload_settings(self._reload_settings, "slack")
        self.settings = self.settings.model_copy(update={"bot_token": fresh.bot_token})
        self.client.set_token(fresh.bot_token)

    async def aclose(self) -> None:
        await self.client.aclose()
        if self._owned_ledger is not None:
            await self._owned_ledger.close()
            self._owned_ledger = None


def create_connector(settings: SlackSettings | None = None) -> SlackConnector:
    """Factory used by the sink runtime (``voicebus sink slack``)."""
    return SlackConnector(settings, ledger_factory=_kafka_ledger)


def _kafka_ledger() -> SyncLedger:
    from pipeline.config import load_settings

    return KafkaLedger(load_settings(), SlackConnector.name)
