"""Where the vendors' published API descriptions live for sandbox request validation.

They are kept outside the project tree, in ``shared/specs/<vendor>`` beside the checkout
(as CI lays it out); ``VOICEBUS_SPECS_DIR`` points elsewhere (it names the ``specs`` folder).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def vendor_spec_dir(vendor: str) -> Path:
    """``$VOICEBUS_SPECS_DIR/<vendor>`` or ``<checkout>/../shared/specs/<vendor>``."""
    configured = os.environ.get("VOICEBUS_SPECS_DIR")
    base = Path(configured) if configured else REPO_ROOT.parent / "shared" / "specs"
    return base / vendor
