"""The embedded voicebus stack as a list of components started in order and stopped in reverse.

``voicebus dev up`` and ``voicebus demo`` both build a :class:`DevStack` from
:class:`Component` objects: the in-memory Tansu broker, the schema registry, the topic
catalogue and schemas, the processors worker and one sink (plus its vendor sandbox) per
available target.  A component under construction joins the stack with one more entry in the
list; nothing else needs to know about it.

Components share a :class:`StackContext` that fills up as they start (the broker sets the
bootstrap address, the registry its URL), so later components, including subprocesses, are
configured from what actually started rather than from assumed ports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO

from pipeline.config import Profile, Settings
from pipeline.subprocesses import stop_process

# Set by the SIGTERM/SIGHUP handler of `dev up` / `demo`.  The handler also raises
# KeyboardInterrupt, but Python swallows an exception raised while it runs its after-fork
# hooks (a signal arriving during subprocess.Popen): the stack checks this flag too.
STOP_REQUESTED = threading.Event()


class ComponentState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    DONE = "done"  # one-shot components (topics/schemas) that finished successfully
    FAILED = "failed"
    STOPPED = "stopped"


class StackError(RuntimeError):
    """A required component of the stack could not be started."""


@dataclass
class StackContext:
    """What components learn from each other while the stack comes up."""

    log_dir: Path
    # working files of this stack (faust data, generated routes); wiped state is fine: the
    # broker is memory-only, so nothing here outlives its data
    state_dir: Path
    bootstrap_servers: str = ""
    schema_registry_url: str = ""
    # extra environment for every subprocess (e.g. a sink's sandbox URL is added per sink)
    env: dict[str, str] = field(default_factory=dict)

    def settings(self) -> Settings:
        """Dev-profile settings pointing at this stack (Tansu workarounds on)."""
        return Settings(
            bootstrap_servers=self.bootstrap_servers,
            schema_registry_url=self.schema_registry_url,
            profile=Profile.DEV,
        )

    def subprocess_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "VOICEBUS_BOOTSTRAP_SERVERS": self.bootstrap_servers,
                "VOICEBUS_SCHEMA_REGISTRY_URL": self.schema_registry_url,
                "VOICEBUS_PROFILE": Profile.DEV.value,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        env.update(extra or {})
        return env


class Component(ABC):
    """One part of the stack.  ``start`` blocks until the part is usable (or raises);
    ``health`` is polled by the status panel; ``stop`` must be safe to call at any time."""

    name: str = "component"
    required: bool = True
    one_shot: bool = False  # finishes its work in start() (state DONE, nothing to watch)

    def __init__(self) -> None:
        self.state = ComponentState.PENDING
        self.detail = ""
        self.log_path: Path | None = None

    @abstractmethod
    def start(self, ctx: StackContext) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def health(self) -> ComponentState:
        """Current state; subprocess components notice here that their process died."""
        return self.state

    @property
    def pid(self) -> int | None:
        return None

    @property
    def address(self) -> str:
        return ""

    def counts(self, ctx: StackContext) -> str:
        """A short progress figure for the status panel (e.g. records committed)."""
        return ""


def voicebus_command() -> list[str]:
    """How to run the ``voicebus`` CLI of this very interpreter (a subprocess must not pick up
    another installation from PATH)."""
    script = Path(sys.executable).parent / "voicebus"
    if script.exists():
        return [str(script)]
    found = shutil.which("voicebus")
    if found:
        return [found]
    return [sys.executable, "-c", "from pipeline.cli import main; main()"]


class ProcessComponent(Component):
    """A long-running subprocess (``voicebus process``, ``voicebus sink <target>`` or a
    sandbox server).  It counts as started when ``ready`` returns True, or once it has stayed
    alive for ``settle_s`` if no readiness check is given; it fails if it exits first."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str] | Callable[[StackContext], Sequence[str]],
        *,
        required: bool = False,
        env: Callable[[StackContext], dict[str, str]] | None = None,
        ready: Callable[[StackContext], bool] | None = None,
        address: Callable[[StackContext], str] | None = None,
        counts: Callable[[StackContext], str] | None = None,
        settle_s: float = 1.5,
        start_timeout_s: float = 45.0,
    ) -> None:
        super().__init__()
        self.name = name
        self.required = required
        self._argv = argv
        self._env = env
        self._ready = ready
        self._address = address
        self._counts = counts
        self._settle_s = settle_s
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._ctx: StackContext | None = None
        self._launched_at = 0.0

    def launch(self, ctx: StackContext) -> None:
        """Spawn the process without waiting (idempotent)."""
        if self._proc is not None:
            return
        self._ctx = ctx
        self.log_path = ctx.log_dir / f"{self.name}.log"
        argv = list(self._argv(ctx) if callable(self._argv) else self._argv)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=ctx.subprocess_env(self._env(ctx) if self._env else None),
            start_new_session=True,  # Ctrl-C reaches the stack, which stops children in order
            preexec_fn=_die_with_parent,
        )
        self._launched_at = time.monotonic()

    def start(self, ctx: StackContext) -> None:
        self.launch(ctx)
        assert self._proc is not None
        started = self._launched_at
        while True:
            code = self._proc.poll()
            if code is not None:
                raise StackError(
                    f"{self.name} exited with code {code} during start{self._last_words()}"
                )
            elapsed = time.monotonic() - started
            if self._ready is not None:
                with contextlib.suppress(Exception):
                    if self._ready(ctx):
                        return
                if elapsed > self._start_timeout_s:
                    raise StackError(
                        f"{self.name} did not become ready within {self._start_timeout_s:.0f}s"
                    )
            elif elapsed >= self._settle_s:
                return
            time.sleep(0.1)

    def _last_words(self, limit: int = 200) -> str:
        """': <last line of the log>' so the panel says why a process died (our workers log
        reasons, never secrets); empty when the log has nothing."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = [ln.strip() for ln in log.read().decode("utf-8", "replace").splitlines()]
        last = next((ln for ln in reversed(lines) if ln), "")
        return f": {last[:limit]}" if last else ""

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        log, self._log = self._log, None
        stop_process(proc, log, timeout_s)

    def health(self) -> ComponentState:
        if self.state is ComponentState.RUNNING and self._proc is not None:
            code = self._proc.poll()
            if code is not None:
                self.state = ComponentState.FAILED
                self.detail = f"exited with code {code}{self._last_words()}"
        return self.state

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def address(self) -> str:
        if self._address is None or self._ctx is None:
            return ""
        return self._address(self._ctx)

    def counts(self, ctx: StackContext) -> str:
        return self._counts(ctx) if self._counts is not None else ""


class DevStack:
    """Starts components in order, stops them in reverse; remembers what failed and why."""

    def __init__(
        self, components: Sequence[Component], log_dir: Path, state_dir: Path | None = None
    ) -> None:
        self.components = list(components)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.ctx = StackContext(log_dir=log_dir, state_dir=state_dir or log_dir)
        self._started: list[Component] = []

    def _launch_run(self, index: int) -> None:
        """Spawn the run of subprocess components starting at ``index`` at once, so their
        start-up times (interpreter, imports, group join) overlap; ``start`` then only waits
        for each to become ready, still in order."""
        for component in self.components[index:]:
            if not isinstance(component, ProcessComponent):
                break
            if component not in self._started:
                component.state = ComponentState.STARTING
                self._started.append(component)  # stop() cleans up whatever was spawned
                component.launch(self.ctx)

    def start(self, on_change: Callable[[], None] | None = None) -> None:
        """Start every component; raise :class:`StackError` when a required one fails
        (the ones already started keep running until :meth:`stop`)."""
        for index, component in enumerate(self.components):
            if STOP_REQUESTED.is_set():  # a SIGTERM whose KeyboardInterrupt was swallowed
                raise KeyboardInterrupt
            component.state = ComponentState.STARTING
            if on_change:
                on_change()
            try:
                if isinstance(component, ProcessComponent):
                    self._launch_run(index)
                component.start(self.ctx)
            except Exception as exc:
                component.state = ComponentState.FAILED
                component.detail = _one_line(exc)
                if component not in self._started:
                    self._started.append(component)  # stop() cleans up half-started parts
                if on_change:
                    on_change()
                if component.required:
                    where = f"; see {component.log_path}" if component.log_path else ""
                    raise StackError(
                        f"{component.name} failed to start: {component.detail}{where}"
                    ) from exc
                continue
            if component not in self._started:
                self._started.append(component)
            if component.one_shot:
                component.state = ComponentState.DONE
            else:
                component.state = ComponentState.RUNNING
            if on_change:
                on_change()

    def stop(self, on_change: Callable[[], None] | None = None) -> None:
        """Stop what was started, newest first.  A second Ctrl-C/SIGTERM while stopping is
        ignored: interrupting here would orphan the remaining processes (each stop is
        bounded: terminate, then kill after a timeout)."""
        with _signals_ignored():
            self._stop_all(on_change)

    def _stop_all(self, on_change: Callable[[], None] | None) -> None:
        while self._started:
            component = self._started.pop()
            with contextlib.suppress(Exception):
                component.stop()
            if component.state is not ComponentState.FAILED:
                component.state = ComponentState.STOPPED
            if on_change:
                on_change()

    def poll(self) -> list[Component]:
        """Refresh health; return the components that are (now) failed."""
        return [c for c in self.components if c.health() is ComponentState.FAILED]

    def get(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    @contextlib.contextmanager
    def running(self, on_change: Callable[[], None] | None = None) -> Iterator[DevStack]:
        try:
            self.start(on_change)
            yield self
        finally:
            self.stop(on_change)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _resolve_prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# resolved in the parent: the child between fork and exec should do as little as possible
_PRCTL = _resolve_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM when the stack's process dies, even by
    SIGKILL, so no worker outlives a killed ``dev up`` / ``demo``.  Elsewhere a no-op."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
