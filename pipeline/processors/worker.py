"""Run the processors worker in the foreground (``voicebus process``, ``voicebus dev up``).

``create_processors`` prepares the topics and builds the app (importable, no side effects
beyond topic creation); ``run_worker`` blocks until SIGINT/SIGTERM, then stops cleanly
(faust's last commit flushes every output and changelog write first, see the commit gate).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from pipeline.config import Settings
from pipeline.processors.app import APP_ID, ENRICHED_SUBJECT, Processors, ensure_topics
from pipeline.processors.faust_support import QuietWorker
from pipeline.processors.offsets import prime_group_offsets
from pipeline.processors.routing_hook import RouterLike
from pipeline.serde import EncodeError
from pipeline.topics import CALL_EVENTS_TOPIC

__all__ = ["create_processors", "load_router", "register_output_schemas", "run_worker"]

log = logging.getLogger(__name__)


def load_router(routes_file: Path | None, *, poll_interval_s: float = 2.0) -> RouterLike | None:
    """A hot-reloading router over ``routes_file`` (None: no routing).  Raises the routing
    package's ``RulesError`` for an invalid file: a worker that cannot route must not start."""
    if routes_file is None:
        return None
    from pipeline.processors.routing import RouterHolder

    holder = RouterHolder(routes_file)
    holder.start_polling(poll_interval_s)
    return holder


def create_processors(
    settings: Settings,
    *,
    router: RouterLike | None = None,
    app_id: str = APP_ID,
    workdir: Path | str | None = None,
    web_port: int | None = None,
    one_record_per_batch: bool | None = None,
) -> Processors:
    """Create the topics the worker needs, then the faust app sized to them
    (``one_record_per_batch``: see ``build_faust_app``)."""
    targets = sorted(getattr(getattr(router, "router", router), "targets", ()) or ()) or None
    counts = ensure_topics(settings, app_id=app_id, targets=targets)
    primed = prime_group_offsets(settings, app_id, CALL_EVENTS_TOPIC)
    if primed:
        log.info(
            "group %s starts %d partitions of %s at the earliest offset",
            app_id,
            primed,
            CALL_EVENTS_TOPIC,
        )
    processors = Processors(
        settings,
        router=router,
        app_id=app_id,
        datadir=workdir,
        web_port=web_port,
        partitions=counts["partitions"],
        contacts_partitions=counts["contacts_partitions"],
        business_partitions=counts["business_partitions"],
        one_record_per_batch=one_record_per_batch,
    )
    register_output_schemas(processors, targets or ())
    return processors


def register_output_schemas(processors: Processors, targets: Iterable[str]) -> None:
    """Register the enriched schema under every output subject before the stream starts: each
    first registration is an HTTP round trip that would otherwise stall the stream on the
    first record for that topic.  A registry that cannot be reached now is tried again on
    first use (the worker still starts)."""
    subjects = [ENRICHED_SUBJECT, *(f"sync.{target}-value" for target in targets)]
    for subject in subjects:
        try:
            processors.codec.schema_id(subject, processors.enriched_schema)
        except EncodeError as exc:
            log.warning("schema for subject %s not registered at start: %s", subject, exc)


def run_worker(processors: Processors, *, loglevel: str = "info") -> None:
    """Run the faust worker in this process until a signal stops it."""
    worker = QuietWorker(
        processors.app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
    )
    try:
        worker.execute_from_commandline()
    finally:
        left = processors.outputs.close()
        if left:
            log.warning("%d output records were still undelivered at shutdown", left)
        s = processors.stats
        log.info(
            "processors stopped: enriched=%d replayed=%d duplicates_dropped=%d "
            "dead_lettered=%d routed=%s",
            s.enriched,
            s.replayed,
            s.duplicates_dropped,
            s.dead_lettered,
            s.routed,
        )
