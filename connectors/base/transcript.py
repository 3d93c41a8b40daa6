"""The call transcript as a plain-text attachment or note, shared by every target that shows it.

The processors put the transcript into the enriched record itself (field ``transcript``, set on
call_ended / call_summary records only): ``{"segments": [{"speaker", "start_ms", "text"}, ...],
"truncated": bool}``, segments in start order, already redacted for the target's class.  It is
a value field, never a header.  Rendered here as one line per segment::

    [01:05] CUSTOMER: I would like a quote, please.

(minutes:seconds from the start of the call; minutes go past 59 on calls over an hour) and, when
the processors' per-call bound left later segments out, a last line saying so.  Records without
the field (routed before it existed, or hand-made) fall back to the routing hint ``transcript``
(text as is, or a list of ``{"speaker", "text"[, "start_ms"]}`` segments).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base.connector import SyncRecord

__all__ = ["TRUNCATED_NOTE", "format_offset", "render_segments", "transcript_text"]

TRUNCATED_NOTE = (
    "[transcript truncated: only the first {kept} segments of this call are included; "
    "the rest exceeded the per-call transcript limit]"
)


def format_offset(start_ms: int) -> str:
    """``65_000`` -> ``"01:05"`` (mm:ss from the start of the call)."""
    minutes, seconds = divmod(max(0, int(start_ms)) // 1000, 60)
    return f"{minutes:02d}:{seconds:02d}"


def _line(segment: Mapping[str, Any]) -> str:
    speaker = str(segment.get("speaker") or "").strip() or "UNKNOWN"
    text = " ".join(str(segment.get("text") or "").split())  # one segment, one line
    start = segment.get("start_ms")
    if isinstance(start, int) and not isinstance(start, bool):
        return f"[{format_offset(start)}] {speaker}: {text}"
    return f"{speaker}: {text}"


def render_segments(segments: Sequence[Any], *, truncated: bool = False) -> str | None:
    """``[mm:ss] SPEAKER: text`` lines (newline-terminated), the truncation note last; None
    when there is nothing to show."""
    lines = [_line(segment) for segment in segments if isinstance(segment, Mapping)]
    if truncated:
        lines.append(TRUNCATED_NOTE.format(kept=len(lines)))
    return "\n".join(lines) + "\n" if lines else None


def transcript_text(record: SyncRecord) -> str | None:
    """The record's transcript as plain text: the event's ``transcript`` field, else the
    routing hint ``transcript``; None when neither has any."""
    carried = record.event.get("transcript")
    if isinstance(carried, Mapping):
        segments = carried.get("segments")
        if isinstance(segments, Sequence) and not isinstance(segments, str):
            text = render_segments(segments, truncated=bool(carried.get("truncated")))
            if text is not None:
                return text
    hinted = record.hints.get("transcript")
    if isinstance(hinted, str):
        return hinted if hinted.strip() else None
    if isinstance(hinted, Sequence):
        return render_segments(hinted)
    return None
