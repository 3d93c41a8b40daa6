"""Stream processors (faust app "voicebus-processors"): enrich, redact and route call events."""
