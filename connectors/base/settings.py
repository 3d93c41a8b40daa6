"""Settings helpers every connector's ``config.py`` uses, so all connectors read their
environment the same way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from connectors.base.errors import AuthError

SettingsT = TypeVar("SettingsT")


def connector_settings_config(env_prefix: str) -> SettingsConfigDict:
    """``model_config`` of a connector's settings: its own env prefix (``VOICEBUS_<TARGET>_``),
    nested settings as ``<PREFIX>HTTP__TIMEOUT_S``, other variables ignored, and input values
    kept out of validation errors (they may be secrets)."""
    return SettingsConfigDict(
        env_prefix=env_prefix,
        env_nested_delimiter="__",
        extra="ignore",
        hide_input_in_errors=True,
    )


def split_env_list(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string (the friendlier form in .env files)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def reload_settings(reload: Callable[[], SettingsT], target: str) -> SettingsT:
    """Re-read a connector's settings for ``refresh_credentials`` (an operator may have rotated
    a secret after a 401); invalid settings become an ``AuthError`` listing the validators'
    messages, which never hold the values (``hide_input_in_errors``)."""
    try:
        return reload()
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]) for e in exc.errors())
        raise AuthError(f"{target} settings could not be reloaded: {reasons}") from None
