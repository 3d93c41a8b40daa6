"""Kafka header names used across voicebus (one place, so producers, processors, sinks and
the DLQ tools agree).  Values are UTF-8 strings; times are ISO 8601 UTC with milliseconds,
``not-before`` is epoch milliseconds.  Error messages in headers never carry secrets or PII."""

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# set by the router on sync.<target> records
OPERATION = "vb-operation"  # operation hint, e.g. "log_call", "post_summary"
HINTS = "vb-hints"  # JSON object of rule-provided hints (channel, priority, ...)
ROUTE = "vb-route"  # name of the rule that routed the record
REDACTION = "vb-redaction"  # redaction policy applied: none | standard | strict

# set when a record is dead-lettered (DLQ) or parked for retry
ERROR_CLASS = (
    "vb-error-class"  # retryable | throttled | auth | permanent | data | conflict | decode
)
ERROR_MESSAGE = "vb-error-message"
ATTEMPTS = "vb-attempts"
FIRST_FAILURE_AT = "vb-first-failure-at"
LAST_FAILURE_AT = "vb-last-failure-at"
SOURCE_TOPIC = "vb-source-topic"
SOURCE_PARTITION = "vb-source-partition"
SOURCE_OFFSET = "vb-source-offset"
TARGET = "vb-target"
CONNECTOR = "vb-connector"
CONNECTOR_VERSION = "vb-connector-version"
NOT_BEFORE = "vb-not-before"  # retry topics: earliest redelivery, epoch ms

# set by `voicebus dlq replay`
REPLAY_ID = "vb-replay-id"
REPLAYED_AT = "vb-replayed-at"
# attempt history of a replayed record (set by replay, kept by the sink like any original
# header): attempts spent before the replay and the first failure time.  When the sink
# dead-letters it again, total attempts = vb-attempts + vb-previous-attempts.
PREVIOUS_ATTEMPTS = "vb-previous-attempts"
PREVIOUS_FIRST_FAILURE_AT = "vb-previous-first-failure-at"

ALL_VB_ERROR_HEADERS = (
    ERROR_CLASS,
    ERROR_MESSAGE,
    ATTEMPTS,
    FIRST_FAILURE_AT,
    LAST_FAILURE_AT,
    SOURCE_TOPIC,
    SOURCE_PARTITION,
    SOURCE_OFFSET,
    TARGET,
    CONNECTOR,
    CONNECTOR_VERSION,
    NOT_BEFORE,
)

# set by the sink runtime (pipeline.sinks) on sync.<target>.retry records
RETRY_ROUND = "vb-retry-round"  # how many trips through the retry topic the record has made
PARKED_BEHIND = "vb-parked-behind"  # record id ("topic:partition:offset") this record waits for
