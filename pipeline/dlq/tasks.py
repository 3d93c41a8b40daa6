"""Replay tasks, persisted in the compacted topic ``_voicebus.replay-tasks`` so every machine
sees the same tasks and an interrupted replay resumes where it stopped.

Record layout (JSON values, key = text):

- ``task/<id>``: the full ``ReplayTask`` state, rewritten at every checkpoint.  The latest
  record per key wins; readers apply records in order because the broker may not compact.
- ``cancel/<id>``: a cancel request (``{"requested_at": ...}``); ``--resume`` writes a
  tombstone for it before running again.  Cancel is a separate key so a running task's
  checkpoint can never overwrite a cancel that it has not seen yet.
"""

from __future__ import annotations

import json
import socket
import uuid
from typing import Literal

from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import BaseModel, Field

from pipeline.config import Settings
from pipeline.dlq import kafka_io
from pipeline.dlq.records import DlqFilter, iso_now

TASKS_TOPIC = "_voicebus.replay-tasks"
TaskStatus = Literal["running", "done", "cancelled"]


class ReplayCounts(BaseModel):
    scanned: int = 0  # DLQ records looked at
    matched: int = 0  # records that matched the filter
    published: int = 0  # records re-published (0 in a dry run)
    skipped_already_replayed: int = 0  # matched, but an earlier task already replayed them


class ReplayTask(BaseModel):
    """State of one replay.  ``done_offsets[p]`` is the next DLQ offset to look at in
    partition ``p``; the task is finished when it reaches ``end_offsets[p]`` everywhere."""

    id: str
    target: str
    dlq_topic: str
    destination: str
    filter: dict[str, str | None] = Field(default_factory=dict)
    again: bool = False
    rate: float | None = None
    status: TaskStatus = "running"
    start_offsets: dict[int, int] = Field(default_factory=dict)
    end_offsets: dict[int, int] = Field(default_factory=dict)
    done_offsets: dict[int, int] = Field(default_factory=dict)
    counts: ReplayCounts = Field(default_factory=ReplayCounts)
    created_at: str = Field(default_factory=iso_now)
    updated_at: str = Field(default_factory=iso_now)
    finished_at: str | None = None
    runner: str = Field(default_factory=socket.gethostname)
    cancel_requested: bool = False  # derived when loading; not authoritative in the record
    last_error: str | None = None

    @property
    def record_filter(self) -> DlqFilter:
        return DlqFilter.from_json(self.filter)

    @property
    def remaining(self) -> int:
        return sum(
            max(0, end - self.done_offsets.get(p, self.start_offsets.get(p, 0)))
            for p, end in self.end_offsets.items()
        )

    def covered(self, partition: int, offset: int) -> bool:
        """True when this task already looked at ``offset`` (and replayed it if it matched)."""
        start = self.start_offsets.get(partition)
        done = self.done_offsets.get(partition)
        return start is not None and done is not None and start <= offset < done


def new_task_id() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


class TaskStore:
    """Reads and writes replay tasks and cancel requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: Producer | None = None

    def ensure(self) -> None:
        kafka_io.ensure_topic(self.settings, TASKS_TOPIC, partitions=1, compacted=True)

    @property
    def producer(self) -> Producer:
        """One idempotent producer per store (starting one costs a round trip), shared with
        the replay loop so a checkpoint flush covers the replayed records too."""
        if self._producer is None:
            self._producer = kafka_io.producer(self.settings)
        return self._producer

    def _produce(self, key: str, value: bytes | None) -> None:
        self.producer.produce(TASKS_TOPIC, key=key.encode(), value=value)
        kafka_io.flush_or_fail(self.producer, self.settings, TASKS_TOPIC)

    def save(self, task: ReplayTask) -> None:
        task.updated_at = iso_now()
        payload = task.model_dump(mode="json", exclude={"cancel_requested"})
        self._produce(f"task/{task.id}", json.dumps(payload).encode())

    def request_cancel(self, task_id: str) -> None:
        self._produce(f"cancel/{task_id}", json.dumps({"requested_at": iso_now()}).encode())

    def clear_cancel(self, task_id: str) -> None:
        self._produce(f"cancel/{task_id}", None)

    def load_all(self) -> dict[str, ReplayTask]:
        latest = kafka_io.read_latest_by_key(self.settings, TASKS_TOPIC, purpose="replay-tasks")
        tasks: dict[str, ReplayTask] = {}
        cancels: set[str] = set()
        for key, raw in latest.items():
            if raw is None:
                continue
            if key.startswith("task/"):
                try:
                    task = ReplayTask.model_validate_json(raw)
                except ValueError:
                    continue  # a record from a newer/older layout: ignore, never crash
                tasks[task.id] = task
            elif key.startswith("cancel/"):
                cancels.add(key.removeprefix("cancel/"))
        for task_id in cancels:
            if task_id in tasks:
                tasks[task_id].cancel_requested = True
        return tasks

    def get(self, task_id: str) -> ReplayTask:
        tasks = self.load_all()
        if task_id not in tasks:
            known = ", ".join(sorted(tasks)[-5:]) or "none"
            raise kafka_io.ToolError(
                f"no replay task {task_id!r} in {TASKS_TOPIC} (recent tasks: {known}); "
                "list them with `voicebus dlq replay --status`"
            )
        return tasks[task_id]

    def cancel_watcher(self, task_id: str) -> CancelWatcher:
        """Starts watching *now*: cancel requests written from here on are seen."""
        return CancelWatcher(self.settings, task_id)


class CancelWatcher:
    """Tails the tasks topic from its current end; ``cancelled()`` polls without blocking, so
    the replay loop can check between records at negligible cost."""

    def __init__(self, settings: Settings, task_id: str) -> None:
        self._key = f"cancel/{task_id}".encode()
        self._consumer: Consumer = kafka_io.reader_consumer(settings, "replay-cancel")
        partitions = kafka_io.partitions_of(settings, TASKS_TOPIC)
        ends = kafka_io.end_offsets(self._consumer, TASKS_TOPIC, partitions)
        self._consumer.assign([TopicPartition(TASKS_TOPIC, p, ends[p]) for p in partitions])
        self._cancelled = False

    def cancelled(self) -> bool:
        if self._cancelled:
            return True
        for message in self._consumer.consume(num_messages=100, timeout=0):
            if message.error() is None and message.key() == self._key:
                self._cancelled = message.value() is not None
        return self._cancelled

    def close(self) -> None:
        self._consumer.close()
