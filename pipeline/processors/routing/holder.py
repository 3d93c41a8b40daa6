"""Hot reload: a holder that swaps the active ``Router`` when the rules file changes.

Routing must never stop because someone saved a broken file, so a new file is validated first
and only a valid one replaces the active rules (a single reference assignment, atomic for the
readers); an invalid one is rejected with the precise ``RulesError`` text in the log and the
previous rules stay active.  Changes are detected by polling the file content (no extra
dependency, works on network and container-mounted volumes where inotify does not), or applied
on demand (``reload()``, called by the control-topic watcher for ``voicebus routes reload``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.processors.routing.loader import RulesError, load_rules, parse_rules
from pipeline.processors.routing.router import RouteDecision, Router
from pipeline.processors.routing.settings import RoutingSettings

log = logging.getLogger("voicebus.routing")


class ReloadStatus(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ReloadOutcome:
    status: ReloadStatus
    generation: int
    sha256: str
    error: str | None = None


class RouterHolder:
    """The worker's current ``Router``; ``route()`` always uses the latest valid rules.

    The initial file must be valid (``RulesError`` otherwise): a worker that cannot route
    should not start."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._router = Router(load_rules(self.path))
        self._generation = 1
        self._loaded_at = datetime.now(UTC)
        self._rejected_sha256: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, routing: RoutingSettings | None = None) -> RouterHolder:
        """Holder for ``$VOICEBUS_ROUTES_FILE`` (default ``config/routes.yaml``)."""
        return cls((routing or RoutingSettings()).routes_file)

    @property
    def router(self) -> Router:
        return self._router

    @property
    def generation(self) -> int:
        """1 for the rules loaded at start, +1 per applied reload."""
        return self._generation

    @property
    def loaded_at(self) -> datetime:
        """When the file was last read successfully (a reload command older than this is
        already reflected)."""
        return self._loaded_at

    def route(self, enriched: Mapping[str, Any]) -> list[RouteDecision]:
        return self._router.route(enriched)

    # ---- reloading ----------------------------------------------------------------------
    def reload(self, reason: str = "requested") -> ReloadOutcome:
        """Re-read the file now and apply it if valid and different."""
        outcome = self._check(reason, force=True)
        assert outcome is not None  # a forced check always reports an outcome
        return outcome

    def poll_once(self) -> ReloadOutcome | None:
        """Apply the file if its content changed since the last load or rejection; ``None``
        when nothing changed.  Call it from a timer, or use ``start_polling``."""
        return self._check("file changed", force=False)

    def _check(self, reason: str, *, force: bool) -> ReloadOutcome | None:
        with self._lock:
            current = self._router
            try:
                text = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                detail = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                error = f"{self.path}: cannot read the file: {detail}"
                log.error(
                    "routing rules not reloaded (%s), keeping generation %d: %s",
                    reason,
                    self._generation,
                    error,
                )
                return ReloadOutcome(ReloadStatus.REJECTED, self._generation, current.sha256, error)
            sha256 = hashlib.sha256(text.encode()).hexdigest()
            now = datetime.now(UTC)
            if sha256 == current.sha256:
                self._loaded_at = now
                self._rejected_sha256 = None
                if force:
                    log.info(
                        "routing rules unchanged (%s), generation %d", reason, self._generation
                    )
                    return ReloadOutcome(ReloadStatus.UNCHANGED, self._generation, sha256)
                return None
            if not force and sha256 == self._rejected_sha256:
                return None  # same broken content as last time: already reported
            try:
                router = Router(parse_rules(text, str(self.path)))
            except RulesError as exc:
                self._rejected_sha256 = sha256
                log.error(
                    "rejected new routing rules (%s), keeping generation %d active:\n%s",
                    reason,
                    self._generation,
                    exc,
                )
                return ReloadOutcome(ReloadStatus.REJECTED, self._generation, sha256, str(exc))
            self._router = router
            self._generation += 1
            self._loaded_at = now
            self._rejected_sha256 = None
            log.info(
                "routing rules reloaded (%s): generation %d, %d rules, sha256 %s",
                reason,
                self._generation,
                len(router.rule_names),
                sha256[:12],
            )
            return ReloadOutcome(ReloadStatus.APPLIED, self._generation, sha256)

    # ---- background polling -------------------------------------------------------------
    def start_polling(self, interval_s: float = 2.0) -> None:
        """Check the file every ``interval_s`` seconds in a daemon thread until ``stop()``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll_loop, args=(interval_s,), name="voicebus-routes-poll", daemon=True
        )
        self._thread.start()

    def _poll_loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.poll_once()
            except Exception:  # never let a surprise end hot reload silently
                log.exception("routing rules poll failed; will retry in %.1f s", interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


# Alias: the name the processors app may prefer when it treats the holder as "a router".
ReloadingRouter = RouterHolder
