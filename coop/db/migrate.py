"""Alembic, driven from code: ``coop migrate``, the embedded start, and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import coop.migrations

#: The Alembic tree: ``migrations/`` at the top of a checkout, installed as the package
#: ``coop.migrations`` (pyproject.toml maps one onto the other; docs/decisions/0004).
MIGRATIONS = Path(coop.migrations.__file__).resolve().parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking (Alembic runs its own event loop): call it outside a running loop."""
    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models and the migrated database differ."""
    command.check(alembic_config(url))
