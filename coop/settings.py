"""One typed settings object, read once from ``COOP_*`` environment variables.

Nothing else in coop reads the environment: every module receives a ``Settings``.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

PREFIX = "COOP_"
#: ``COOP_LOG_FORMAT``: the two formats of ``coop.logs``.
LOG_FORMATS = ("text", "json")


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    database_url: str | None = None
    """``postgresql+asyncpg://...``; unset means the embedded default under ``data_dir``."""
    redis_url: str | None = None
    """``redis://host:port/db`` or ``unix:///path?db=0``; unset means the embedded default."""
    data_dir: str = ".coop"
    issuer: str | None = None
    """The ``iss`` of access tokens and their ``aud`` (the API is its own resource server).
    Unset, it follows the address ``coop serve`` binds to (:meth:`served_at`); read it as
    :attr:`effective_issuer`."""
    token_ttl_seconds: int = 3600
    jwks: str | None = None
    """A private JWK set as JSON (first key signs); overrides the key file in ``data_dir``."""
    jwks_file: str | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    """``text`` (one line a person reads) or ``json`` (one JSON object per line, for a log
    platform); see ``coop.logs`` and docs/operations.md, "Logs"."""
    db_pool_size: int = 10
    db_max_overflow: int = 10
    scrypt_n: int = 2**14
    """scrypt cost for client secrets; tests lower it to keep the suite fast."""
    metrics_token: str | None = None
    """The bearer token ``GET /metrics`` (and the worker's metrics port) requires:
    ``Authorization: Bearer <token>``. Unset: ``/metrics`` is open, so close it at the proxy.
    An OAuth access token never opens it."""
    worker_metrics_port: int | None = None
    """``coop worker`` serves its own Prometheus metrics on this port (unset: it does not)."""
    worker_metrics_host: str = "127.0.0.1"
    """The address the worker's metrics port binds to (``0.0.0.0`` to let a scraper in)."""
    bench: bool = False
    """Expose ``POST /_bench/insert`` (one INSERT, the ceiling ``coop bench`` compares to)."""

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    def __post_init__(self) -> None:
        if self.log_format.strip().lower() not in LOG_FORMATS:
            raise ValueError(
                f"log_format (COOP_LOG_FORMAT) must be text or json, not {self.log_format!r}"
            )

    def replace(self, **changes: object) -> Settings:
        return msgspec.structs.replace(self, **changes)

    @property
    def effective_issuer(self) -> str:
        """``issuer``, or (unset, and not resolved by :meth:`served_at`) the default address."""
        return self.issuer or issuer_for(DEFAULT_HOST, DEFAULT_PORT)

    def served_at(self, host: str, port: int) -> Settings:
        """These settings for a server bound to ``host:port``: with no ``COOP_ISSUER``, the
        issuer is that address (``http://127.0.0.1:port`` for a wildcard bind)."""
        if self.issuer:
            return self
        return self.replace(issuer=issuer_for(host, port))


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def issuer_for(host: str, port: int) -> str:
    """The base URL of a server bound to ``host:port``. A wildcard bind (``0.0.0.0``, ``::``)
    is no address a client can use, so it names the loopback address: set ``COOP_ISSUER``
    to the public base URL in production (``coop serve`` warns when it is unset there)."""
    if host in WILDCARDS:
        host = DEFAULT_HOST
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


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
