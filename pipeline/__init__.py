"""voicebus pipeline: config, serde, registry, producer SDK, topics, processors, sinks, CLI."""

__version__ = "0.1.0"
