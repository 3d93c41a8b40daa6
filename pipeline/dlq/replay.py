"""``voicebus dlq replay``: re-publish dead-lettered records, as a resumable task.

How a replay works
------------------
1. *Create*: the task fixes its bounds per DLQ partition: from the purge floor (or log start)
   to the exact end of the partition at creation (see ``kafka_io.end_offsets``).  Records
   dead-lettered after that, including replayed records that fail again, are not part of the
   task, so a replay can never loop on its own output.
2. *Run*: partitions are replayed one after the other, each in offset order (the DLQ keeps the
   source key, so records of one call stay in their original order).  A matching record is
   re-published to ``sync.<target>`` (or ``--to``) with its original key, value and headers,
   minus the ``vb-*`` error/retry headers, plus ``vb-replay-id``, ``vb-replayed-at`` and its
   attempt history (``vb-previous-attempts``, ``vb-previous-first-failure-at``) so the sink
   dead-letters it again with the full history if it fails again.
3. *Checkpoint*: every ``checkpoint_every`` records (and on cancel / finish) the producer is
   flushed and the task state saved.  A crash between checkpoints re-publishes at most that
   many records on ``--resume``; the sink's ledger (keyed by event id) makes that harmless.
   A cancel is checked between records and checkpoints exactly, so resuming after a cancel
   publishes no record twice.
4. *No double replay*: unless ``--again``, a record that an earlier task with the same
   destination already looked at (offset inside that task's ``[start, done)`` range) and that
   matched its filter is skipped and counted as ``skipped_already_replayed``.

Replay never removes records from the DLQ (that is ``dlq purge``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline import headers as h
from pipeline.config import Settings
from pipeline.dlq import floors, kafka_io
from pipeline.dlq.records import DlqFilter, DlqRecord, dlq_topic, iso_now, sync_topic
from pipeline.dlq.tasks import ReplayTask, TaskStore, new_task_id

#: headers a replayed record must not carry (they describe the previous failure or an earlier
#: replay and would confuse the sink); the history is condensed into PREVIOUS_* headers
_STRIPPED = {
    *h.ALL_VB_ERROR_HEADERS,
    h.REPLAY_ID,
    h.REPLAYED_AT,
    h.PREVIOUS_ATTEMPTS,
    h.PREVIOUS_FIRST_FAILURE_AT,
    getattr(h, "RETRY_ROUND", "vb-retry-round"),
    getattr(h, "PARKED_BEHIND", "vb-parked-behind"),
}

ProgressCallback = Callable[[ReplayTask, int], None]  # (task, offsets advanced since last call)


@dataclass(frozen=True)
class ReplayPlan:
    """A replay request before it becomes a task."""

    target: str
    record_filter: DlqFilter
    destination: str | None = None
    again: bool = False
    rate: float | None = None
    task_id: str | None = None


def replay_headers(record: DlqRecord, replay_id: str) -> list[tuple[str, str | bytes | None]]:
    """Original headers minus voicebus error headers, plus replay id/time and history."""
    out: list[tuple[str, str | bytes | None]] = []
    for name, value in record.headers:
        if name in _STRIPPED or value is None:
            continue
        out.append((name, value))
    previous = _int(record.header_values.get(h.PREVIOUS_ATTEMPTS))
    total = previous + (record.attempts or 0)
    first = record.header_values.get(h.PREVIOUS_FIRST_FAILURE_AT) or record.header_values.get(
        h.FIRST_FAILURE_AT
    )
    out.append((h.REPLAY_ID, replay_id.encode()))
    out.append((h.REPLAYED_AT, iso_now().encode()))
    out.append((h.PREVIOUS_ATTEMPTS, str(total).encode()))
    if first:
        out.append((h.PREVIOUS_FIRST_FAILURE_AT, first.encode()))
    return out


def _int(text: str | None) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def _dlq_bounds(settings: Settings, target: str) -> tuple[str, dict[int, int], dict[int, int]]:
    """The target's DLQ topic with, per partition, where a replay starts (after deleted and
    below-floor records) and where it ends (the end offset now, never below the start)."""
    topic = dlq_topic(target)
    partitions = kafka_io.partitions_of(settings, topic)
    starts = floors.start_offsets(settings, topic, partitions)
    consumer = kafka_io.reader_consumer(settings, "replay-ends")
    try:
        ends = kafka_io.end_offsets(consumer, topic, partitions)
    finally:
        consumer.close()
    return topic, starts, {p: max(ends[p], starts[p]) for p in partitions}


def create_task(settings: Settings, plan: ReplayPlan, store: TaskStore) -> ReplayTask:
    """Fix the task's bounds and persist it (status running)."""
    topic, starts, ends = _dlq_bounds(settings, plan.target)
    destination = plan.destination or sync_topic(plan.target)
    kafka_io.partitions_of(settings, destination)  # clear error now if it does not exist
    task = ReplayTask(
        id=plan.task_id or new_task_id(),
        target=plan.target,
        dlq_topic=topic,
        destination=destination,
        filter=plan.record_filter.to_json(),
        again=plan.again,
        rate=plan.rate,
        start_offsets=starts,
        end_offsets=ends,
        done_offsets=dict(starts),
    )
    store.ensure()
    existing = store.load_all()
    if task.id in existing:
        raise kafka_io.ToolError(
            f"replay task {task.id!r} already exists; resume it with "
            f"`voicebus dlq replay --resume {task.id}` or choose another --id"
        )
    store.save(task)
    return task


class _AlreadyReplayed:
    """Answers "did an earlier task with this destination already replay this record?"."""

    def __init__(self, task: ReplayTask, all_tasks: dict[str, ReplayTask]) -> None:
        self._earlier = [
            (other, other.record_filter)
            for other in all_tasks.values()
            if other.id != task.id
            and other.dlq_topic == task.dlq_topic
            and other.destination == task.destination
        ]

    def __call__(self, record: DlqRecord) -> bool:
        return any(
            other.covered(record.partition, record.offset) and f.matches(record)
            for other, f in self._earlier
        )


class _RateLimiter:
    """Paces publishing to ``rate`` records/s; waits in short slices so a cancel is seen."""

    def __init__(self, rate: float | None, cancelled: Callable[[], bool]) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._cancelled = cancelled

    def wait(self) -> bool:
        """False when cancelled while waiting."""
        if not self._interval:
            return True
        while (delay := self._next - time.monotonic()) > 0:
            if self._cancelled():
                return False
            time.sleep(min(delay, 0.05))
        self._next = max(self._next, time.monotonic() - self._interval) + self._interval
        return True


def run_task(
    settings: Settings,
    task: ReplayTask,
    store: TaskStore | None,
    *,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    checkpoint_every: int = 100,
    checkpoint_interval_s: float = 1.0,
) -> ReplayTask:
    """Run (or resume) ``task`` until it is done or cancelled.  With ``dry_run`` nothing is
    published or persisted and ``task.counts.matched`` says what would be replayed."""
    record_filter = task.record_filter
    earlier_tasks = {} if task.again else (store or TaskStore(settings)).load_all()
    already = _AlreadyReplayed(task, earlier_tasks)
    watcher = None
    if store is not None and not dry_run:
        store.clear_cancel(task.id)
        watcher = store.cancel_watcher(task.id)
    cancelled = watcher.cancelled if watcher is not None else (lambda: False)
    producer = None
    if not dry_run:
        producer = store.producer if store is not None else kafka_io.producer(settings)
    limiter = _RateLimiter(task.rate, cancelled)
    consumer = kafka_io.reader_consumer(settings, "replay")
    since_checkpoint, last_checkpoint = 0, time.monotonic()

    def checkpoint() -> None:
        nonlocal since_checkpoint, last_checkpoint
        if producer is not None:
            kafka_io.flush_or_fail(producer, settings, task.destination)
        if store is not None and not dry_run:
            store.save(task)
        since_checkpoint, last_checkpoint = 0, time.monotonic()

    try:
        for partition in sorted(task.end_offsets):
            start = task.done_offsets.get(partition, task.start_offsets.get(partition, 0))
            stop = task.end_offsets[partition]
            if start >= stop:
                continue
            ranges = {partition: kafka_io.ScanRange(start=start, stop=stop)}
            for message in kafka_io.scan(consumer, task.dlq_topic, ranges):
                if cancelled():
                    task.status = "cancelled"
                    checkpoint()
                    return task
                record = DlqRecord.from_message(message)
                task.counts.scanned += 1
                if record_filter.matches(record):
                    task.counts.matched += 1
                    if already(record):
                        task.counts.skipped_already_replayed += 1
                    elif producer is not None:
                        if not limiter.wait():
                            task.status = "cancelled"
                            checkpoint()
                            return task
                        producer.produce(
                            task.destination,
                            key=record.key_bytes,
                            value=record.value,
                            headers=replay_headers(record, task.id),
                        )
                        producer.poll(0)
                        task.counts.published += 1
                advanced = record.offset + 1 - task.done_offsets.get(partition, start)
                task.done_offsets[partition] = record.offset + 1
                since_checkpoint += 1
                if on_progress is not None:
                    on_progress(task, max(advanced, 1))
                if (
                    since_checkpoint >= checkpoint_every
                    or time.monotonic() - last_checkpoint >= checkpoint_interval_s
                ):
                    checkpoint()
            # offsets without records (transaction markers, deleted records) are done too
            task.done_offsets[partition] = stop
        task.status = "done"
        task.finished_at = iso_now()
        checkpoint()
        return task
    except BaseException as exc:
        # keep the progress so `--resume` continues here; status stays "running"
        task.last_error = f"{type(exc).__name__}: {exc}"[:300]
        with contextlib.suppress(Exception):  # the original error matters more
            checkpoint()
        raise
    finally:
        consumer.close()
        if watcher is not None:
            watcher.close()


def resume_task(settings: Settings, task_id: str, store: TaskStore) -> ReplayTask:
    """The task to continue; a done task cannot be resumed (start a new one, or --again)."""
    task = store.get(task_id)
    if task.status == "done":
        raise kafka_io.ToolError(
            f"replay task {task_id!r} is already done ({task.counts.published} published); "
            "start a new replay (add --again to re-publish records it replayed)"
        )
    task.status = "running"
    task.last_error = None
    # a purge since the last run may have raised the floors: never replay below them
    partitions = sorted(task.end_offsets)
    starts = floors.start_offsets(settings, task.dlq_topic, partitions)
    for p in partitions:
        task.done_offsets[p] = max(task.done_offsets.get(p, 0), starts[p])
    return task


def preview_task(settings: Settings, plan: ReplayPlan) -> ReplayTask:
    """A task that is never persisted, for ``--dry-run``."""
    topic, starts, ends = _dlq_bounds(settings, plan.target)
    return ReplayTask(
        id=plan.task_id or "dry-run",
        target=plan.target,
        dlq_topic=topic,
        destination=plan.destination or sync_topic(plan.target),
        filter=plan.record_filter.to_json(),
        again=plan.again,
        start_offsets=starts,
        end_offsets=ends,
        done_offsets=dict(starts),
    )
