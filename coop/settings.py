"""One typed settings object, read once from ``COOP_*`` environment variables.

Nothing else in coop reads the environment: every module receives a ``Settings``.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

PREFIX = "COOP_"


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    database_url: str | None = None
    """``postgresql+asyncpg://...``; unset means the embedded default under ``data_dir``."""
    redis_url: str | None = None
    """``redis://host:port/db`` or ``unix:///path?db=0``; unset means the embedded default."""
    data_dir: str = ".coop"
    issuer: str = "http://127.0.0.1:8000"
    """The ``iss`` of access tokens and their ``aud`` (the API is its own resource server)."""
    token_ttl_seconds: int = 3600
    jwks: str | None = None
    """A private JWK set as JSON (first key signs); overrides the key file in ``data_dir``."""
    jwks_file: str | None = None
    log_level: str = "INFO"
    db_pool_size: int = 10
    db_max_overflow: int = 10
    scrypt_n: int = 2**14
    """scrypt cost for client secrets; tests lower it to keep the suite fast."""
    bench: bool = False
    """Expose ``POST /_bench/insert`` (one INSERT, the ceiling ``coop bench`` compares to)."""

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    def replace(self, **changes: object) -> Settings:
        return msgspec.structs.replace(self, **changes)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read ``COOP_<FIELD>`` for every field; empty values count as unset."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name in Settings.__struct_fields__:
        value = env.get(PREFIX + name.upper())
        if value not in (None, ""):
            raw[name] = value
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid configuration: {exc} (COOP_* environment variables)") from None
