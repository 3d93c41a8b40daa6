"""Where rotated refresh tokens live between restarts.

With refresh-token rotation every refresh invalidates the previous refresh token, so the new
one must be persisted *before* it is relied on: a restart that came back with the old token
would find the grant revoked.  ``CredentialStore`` is the protocol (a Vault or KMS-backed store
plugs in); ``FileCredentialStore`` writes JSON atomically (temp file + fsync + rename) with
0600 permissions; ``InMemoryCredentialStore`` is for tests and tokens that need no persistence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class CredentialStore(Protocol):
    """Persistent key -> JSON object map of credentials (values hold secrets)."""

    async def load(self, key: str) -> dict[str, Any] | None: ...

    async def save(self, key: str, value: Mapping[str, Any]) -> None: ...


class InMemoryCredentialStore:
    def __init__(self, initial: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._data: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (initial or {}).items()}
        self.saves = 0

    async def load(self, key: str) -> dict[str, Any] | None:
        value = self._data.get(key)
        return dict(value) if value is not None else None

    async def save(self, key: str, value: Mapping[str, Any]) -> None:
        self._data[key] = dict(value)
        self.saves += 1


class CredentialStoreError(RuntimeError):
    """The store file cannot be read or written (the message names the path, never values)."""


class FileCredentialStore:
    """A JSON file ``{key: {...}}``; one file per connector is the simple, safe layout (two
    processes writing one file would overwrite each other's keys)."""

    def __init__(self, path: str | os.PathLike[str], *, mode: int = 0o600) -> None:
        self.path = Path(path)
        self.mode = mode
        self._lock = asyncio.Lock()

    async def load(self, key: str) -> dict[str, Any] | None:
        async with self._lock:
            value = self._read().get(key)
        return dict(value) if isinstance(value, dict) else None

    async def save(self, key: str, value: Mapping[str, Any]) -> None:
        async with self._lock:
            data = self._read()
            data[key] = dict(value)
            self._write(data)

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CredentialStoreError(
                f"cannot read credential store {self.path}: {exc.strerror}; check the file's "
                "owner and permissions"
            ) from None
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            raise CredentialStoreError(
                f"credential store {self.path} is not valid JSON; restore it from a backup or "
                "delete it and re-authorise"
            ) from None
        if not isinstance(data, dict):
            raise CredentialStoreError(f"credential store {self.path} must hold a JSON object")
        return data

    def _write(self, data: Mapping[str, Any]) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        except OSError as exc:
            raise CredentialStoreError(
                f"cannot write credential store {self.path}: {exc.strerror}"
            ) from None
        try:
            os.fchmod(fd, self.mode)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise CredentialStoreError(
                f"cannot write credential store {self.path}: {exc.strerror}"
            ) from None
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
