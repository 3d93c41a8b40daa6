"""Sinks: consume ``sync.<target>`` and deliver each record to its target system.

``delivery`` turns one record into vendor calls through the shared resilience layer and the
sync ledger; the runtime (consumer loop, retry topics, DLQ) calls it.
"""
