"""Avro schemas (.avsc) shipped with the package.  ``SCHEMA_DIR`` is their folder."""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
