from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="session")
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


@pytest.fixture(scope="session")
def manifests(kustomization: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(file, document) for every document of every resource file kustomization lists."""
    docs: list[tuple[str, dict[str, Any]]] = []
    for rel in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / rel).read_text()):
            if doc is not None:
                docs.append((rel, doc))
    return docs
