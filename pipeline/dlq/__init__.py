"""Dead-letter tooling for SREs: inspect (``inspect``), replay as resumable tasks
(``replay``, ``tasks``), purge (``purge``, ``floors``).  The CLI is ``pipeline.cli.dlq_cmd``.

DLQ record format (written by the sink runtime to ``sync.<target>.dlq``): the original key,
value bytes and headers, plus the ``vb-*`` error headers of ``pipeline.headers``.
"""

from pipeline.dlq.kafka_io import ToolError
from pipeline.dlq.records import DlqFilter, DlqRecord, dlq_topic, parse_time

__all__ = ["DlqFilter", "DlqRecord", "ToolError", "dlq_topic", "parse_time"]
