"""The rich status panel of ``voicebus dev up`` / ``voicebus demo``: one row per component."""

from __future__ import annotations

import time

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipeline.devstack import ComponentState, DevStack

_STYLE = {
    ComponentState.PENDING: "dim",
    ComponentState.STARTING: "yellow",
    ComponentState.RUNNING: "green",
    ComponentState.DONE: "green",
    ComponentState.FAILED: "bold red",
    ComponentState.STOPPED: "dim",
}


class StatusPanel:
    """Renders the stack; ``counts`` are refreshed at most every ``counts_every_s`` seconds
    because they query the broker."""

    def __init__(self, stack: DevStack, title: str, counts_every_s: float = 2.0) -> None:
        self.stack = stack
        self.title = title
        self.footer = ""
        self._counts_every_s = counts_every_s
        self._counts: dict[str, str] = {}
        self._counts_at = 0.0

    def _refresh_counts(self) -> None:
        if time.monotonic() - self._counts_at < self._counts_every_s:
            return
        self._counts_at = time.monotonic()
        for component in self.stack.components:
            if component.state in (ComponentState.RUNNING, ComponentState.DONE):
                try:
                    self._counts[component.name] = component.counts(self.stack.ctx)
                except Exception as exc:  # the broker may be going away; show, do not crash
                    self._counts[component.name] = f"? ({type(exc).__name__})"

    def render(self) -> Panel:
        self._refresh_counts()
        table = Table(expand=True, show_edge=False)
        for column in ("component", "pid", "address", "state", "counts / detail"):
            table.add_column(column, overflow="fold")
        for c in self.stack.components:
            info = c.detail
            if c.state is ComponentState.FAILED and c.log_path is not None:
                info = f"{c.detail} - log: {c.log_path}"
            elif self._counts.get(c.name):
                info = self._counts[c.name]
            table.add_row(
                c.name + ("" if c.required else " (optional)"),
                str(c.pid or ""),
                c.address,
                Text(c.state.value, style=_STYLE[c.state]),
                info,
            )
        body = Group(table, Text(self.footer, style="dim")) if self.footer else table
        return Panel(body, title=self.title, border_style="cyan")
