"""A call simulator: realistic call lifecycles and a matching CRM directory.

Each simulated call is ``call_started``, 5-40 ``transcript_segment`` events with alternating
speakers, ``call_ended``, ``call_summary`` (sentiments incl. NEGATIVE; intents such as
complaint, billing_question, cancel, meeting_request; action items incl. meetings with due
dates) and ``recording_available``.  Customer speech now and then contains an email address,
a card-like number or a phone number, so redaction has something to do.

The directory (``crm.contacts``) knows some callers, not others, and has a few numbers shared
by two records (ambiguous matches).  Everything is derived from one ``random.Random(seed)``:
the same seed (and start time) gives the same events, ids included.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pipeline.config import Settings
from pipeline.events import (
    ActionItem,
    CallDirection,
    CallEnded,
    CallEvent,
    CallStarted,
    CallSummary,
    Contact,
    Payload,
    RecordingAvailable,
    RecordType,
    SpeakerRole,
    TranscriptSegment,
)
from pipeline.simulate_data import (
    AGENTS,
    CARDS,
    COMPANIES,
    FIRST,
    INTENTS,
    LAST,
    PII_LINES,
    QUEUES,
)

__all__ = ["Scenario", "build_scenario", "publish_scenario"]

FIXED_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # start of seeded runs: reproducible
COMPANY_NUMBER = "+14155550100"
CRMS = ("salesforce", "hubspot", "zendesk", "servicenow")


@dataclass
class Scenario:
    """A simulated day: the directory and the calls (each call's events in order)."""

    tenant_id: str
    seed: int
    contacts: list[Contact] = field(default_factory=list)
    calls: list[list[CallEvent]] = field(default_factory=list)

    def events(self) -> list[CallEvent]:
        """All events interleaved by time, as concurrent calls would produce them; each
        call's own events stay in order (their timestamps strictly increase)."""
        indexed = [
            (e.occurred_at, i, j, e)
            for i, call in enumerate(self.calls)
            for j, e in enumerate(call)
        ]
        return [e for *_, e in sorted(indexed, key=lambda t: (t[0], t[1], t[2]))]

    def counts(self) -> dict[str, int]:
        """Events per event_type (plus ``contacts``)."""
        counts = Counter(e.event_type.value for call in self.calls for e in call)
        return {**dict(sorted(counts.items())), "contacts": len(self.contacts)}


@dataclass
class _Customer:
    name: str
    number: str
    email: str | None
    account: str | None


class _Generator:
    def __init__(self, tenant_id: str, seed: int, start: datetime, source: str) -> None:
        self.rng = random.Random(seed)
        self.tenant_id = tenant_id
        self.start = start
        self.source = source
        self._numbers: set[str] = {COMPANY_NUMBER}

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def number(self, country: str) -> str:
        """A fictional, unique number (+1 NXX-555-01XX or +44 20 7946 0XXX ranges)."""
        while True:
            if country == "US":
                area = self.rng.choice(("212", "312", "415", "617", "646", "720", "303"))
                candidate = f"+1{area}55501{self.rng.randrange(100):02d}"
            else:
                candidate = f"+4420794600{self.rng.randrange(100):02d}"
            if candidate not in self._numbers:
                self._numbers.add(candidate)
                return candidate

    def customers(self, count: int, country: str) -> list[_Customer]:
        out = []
        for _ in range(count):
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            email = f"{first}.{last}@example.com".lower() if self.rng.random() < 0.7 else None
            out.append(
                _Customer(
                    f"{first} {last}", self.number(country), email, self.rng.choice(COMPANIES)
                )
            )
        return out

    def directory(self, known: list[_Customer], shared: int) -> list[Contact]:
        """One record per known customer; ``shared`` numbers get a second record (another
        person on the same line, or the same person in another CRM)."""
        contacts = []
        for index, customer in enumerate(known):
            crm = self.rng.choice(CRMS)
            contacts.append(self.contact(crm, customer, index))
        for index, customer in enumerate(known[:shared]):
            crm = self.rng.choice(CRMS)
            twin = _Customer(
                f"{self.rng.choice(FIRST)} {customer.name.split()[1]}",
                customer.number,
                None,
                customer.account,
            )
            contacts.append(self.contact(crm, twin, len(known) + index))
        return contacts

    def contact(self, crm: str, customer: _Customer, index: int) -> Contact:
        return Contact(
            crm=crm,
            record_id=f"{crm[:2].upper()}{index:05d}{self.rng.randrange(16**4):04x}",
            record_type=self.rng.choice((RecordType.CONTACT, RecordType.CONTACT, RecordType.LEAD)),
            tenant_id=self.tenant_id,
            name=customer.name,
            account=customer.account,
            owner=self.rng.choice(AGENTS),
            phone_numbers=[customer.number],
            email=customer.email,
            updated_at=self.start - timedelta(days=self.rng.randrange(1, 90)),
        )

    def call(self, caller: _Customer, begins: datetime) -> list[CallEvent]:
        rng = self.rng
        call_id = f"call-{rng.getrandbits(48):012x}"
        intent = rng.choice(list(INTENTS))
        sentiments, customer_lines, agent_lines, summary_text, disposition = INTENTS[intent]
        inbound = rng.random() < 0.8
        at = begins
        events: list[tuple[datetime, Payload]] = []
        started = CallStarted(
            direction=CallDirection.INBOUND if inbound else CallDirection.OUTBOUND,
            from_number=caller.number if inbound else COMPANY_NUMBER,
            to_number=COMPANY_NUMBER if inbound else caller.number,
            agent=rng.choice(AGENTS),
            queue=rng.choice(QUEUES),
            language=rng.choice(("en-US", "en-US", "en-GB")),
        )
        events.append((at, started))
        offset_ms = rng.randrange(500, 3000)
        for sequence in range(rng.randint(5, 40)):
            speaker = SpeakerRole.AGENT if sequence % 2 == 0 else SpeakerRole.CUSTOMER
            if sequence == 0 and rng.random() < 0.3:
                speaker = SpeakerRole.BOT
            text = self.line(speaker, customer_lines, agent_lines, caller)
            length = rng.randrange(1500, 12000)
            segment = TranscriptSegment(
                sequence=sequence,
                speaker=speaker,
                text=text,
                start_ms=offset_ms,
                end_ms=offset_ms + length,
                confidence=round(rng.uniform(0.72, 0.99), 3),
            )
            offset_ms += length + rng.randrange(100, 1500)
            events.append((begins + timedelta(milliseconds=segment.end_ms), segment))
        duration_s = offset_ms // 1000 + 1
        ended_at = begins + timedelta(seconds=duration_s)
        cause = rng.choice(("normal_clearing", "caller_hangup", "agent_hangup"))
        events.append(
            (
                ended_at,
                CallEnded(duration_s=duration_s, disposition=disposition, hangup_cause=cause),
            )
        )
        summary = CallSummary(
            summary=summary_text,
            sentiment=rng.choice(sentiments),
            intents=[intent] + ([rng.choice(list(INTENTS))] if rng.random() < 0.2 else []),
            action_items=self.action_items(intent, ended_at),
            topics=sorted(
                {intent.replace("_", " "), rng.choice(("pricing", "account", "product"))}
            ),
        )
        events.append((ended_at + timedelta(seconds=rng.randrange(2, 10)), summary))
        recording = RecordingAvailable(
            url=f"https://recordings.example.com/{self.tenant_id}/{call_id}.wav",
            duration_s=duration_s,
            format=rng.choice(("wav", "mp3", "ogg")),
            checksum="sha256:" + hashlib.sha256(f"{call_id}:{duration_s}".encode()).hexdigest(),
        )
        events.append((ended_at + timedelta(seconds=rng.randrange(11, 40)), recording))
        return [
            CallEvent.create(
                payload,
                tenant_id=self.tenant_id,
                call_id=call_id,
                source=self.source,
                occurred_at=when,
                event_id=self.uuid4(),
            )
            for when, payload in events
        ]

    def line(
        self,
        speaker: SpeakerRole,
        customer: tuple[str, ...],
        agent: tuple[str, ...],
        caller: _Customer,
    ) -> str:
        rng = self.rng
        if speaker is SpeakerRole.BOT:
            return "Thanks for calling. This call may be recorded. How can I help?"
        if speaker is SpeakerRole.AGENT:
            return rng.choice((*agent, "Could you confirm your name, please?", "Anything else?"))
        text = rng.choice((*customer, f"Sure, it's {caller.name}.", "Okay, thanks."))
        if rng.random() < 0.15:
            card = rng.choice(CARDS)
            pii = rng.choice(PII_LINES).format(
                email=caller.email or "someone@example.org",
                card=card,
                last4=card[-4:],
                phone="+1 415 555 01" + f"{rng.randrange(100):02d}",
            )
            text = f"{text} {pii}"
        return text

    def action_items(self, intent: str, ended_at: datetime) -> list[ActionItem]:
        rng, day = self.rng, ended_at.date()
        owner = rng.choice(AGENTS)
        if intent == "meeting_request":
            return [
                ActionItem(
                    description="Product demo with the customer's team",
                    owner=owner,
                    due_date=day + timedelta(days=rng.randint(1, 7)),
                    kind="meeting",
                ),
                ActionItem(description="Send demo agenda", owner=owner, kind="email"),
            ]
        if intent == "billing_question":
            return [
                ActionItem(
                    description="Refund duplicate charge",
                    owner=owner,
                    due_date=day + timedelta(days=2),
                )
            ]
        if intent == "cancel":
            return [
                ActionItem(
                    description="Call back about retention offer",
                    owner=owner,
                    due_date=day + timedelta(days=1),
                    kind="meeting",
                ),
            ]
        if intent == "complaint":
            return [ActionItem(description="Escalate outage report to support lead", owner=owner)]
        return []


def build_scenario(
    calls: int,
    *,
    tenant_id: str = "acme",
    seed: int | None = None,
    start: datetime | None = None,
    source: str = "vapi",
) -> Scenario:
    """``calls`` simulated calls and the directory that goes with them.  With a ``seed`` and
    no ``start`` the day starts at a fixed time, so the output is fully reproducible."""
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
        start = start or datetime.now(UTC)
    start = (start or FIXED_START).astimezone(UTC)
    gen = _Generator(tenant_id, seed, start, source)
    # the fictional number ranges hold 700 US and 100 UK numbers: big runs reuse callers
    known = gen.customers(min(400, max(3, calls // 2 + 2)), "US")
    unknown = gen.customers(min(80, max(1, calls // 4)), "UK")
    shared = max(1, len(known) // 8)
    scenario = Scenario(tenant_id=tenant_id, seed=seed, contacts=gen.directory(known, shared))
    begins = start
    for _ in range(calls):
        caller = gen.rng.choice(known) if gen.rng.random() < 0.7 else gen.rng.choice(unknown)
        scenario.calls.append(gen.call(caller, begins))
        begins += timedelta(seconds=gen.rng.randrange(3, 45))
    return scenario


def publish_scenario(
    settings: Settings,
    scenario: Scenario,
    *,
    rate: float | None = None,
    contacts: bool = False,
    calls: bool = True,
    on_published: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Publish the directory (``contacts``) and the call events, ``rate`` events per second
    at most (None: as fast as possible).  Returns counts per event type (and ``contacts``);
    raises ``PublishError`` if anything was not delivered."""
    from pipeline.producer import CallEventProducer

    counts: Counter[str] = Counter()
    interval = 1.0 / rate if rate else 0.0
    next_at = time.monotonic()
    with CallEventProducer(settings) as producer:
        if contacts:
            for contact in scenario.contacts:
                producer.publish_contact(contact)
                counts["contacts"] += 1
                if on_published:
                    on_published("contacts")
        if calls:
            for event in scenario.events():
                if interval:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    next_at = max(next_at, time.monotonic() - 1.0) + interval
                producer.publish(event)
                counts[event.event_type.value] += 1
                if on_published:
                    on_published(event.event_type.value)
        producer.flush()
    return dict(sorted(counts.items()))
