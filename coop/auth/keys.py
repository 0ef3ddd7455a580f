"""Signing keys: an RS256 key ring, kept in the data directory or given by configuration.

The first key of the set signs; every key in the set verifies and is published at
``/.well-known/jwks.json``. Rotation without downtime: ``coop keys rotate`` puts a new key
first and keeps the old ones, so tokens signed before the rotation still verify; ``coop keys
prune`` drops a retired key once every token it signed has expired. A running service
notices the file changed (by its mtime) and reloads it.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet, RSAKey

ALG = "RS256"
_KID_TIME = "%Y%m%dT%H%M%SZ"


def _new_key(now: datetime) -> RSAKey:
    kid = f"{now.strftime(_KID_TIME)}-{os.urandom(3).hex()}"
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": ALG})


def kid_created_at(kid: str) -> datetime | None:
    try:
        return datetime.strptime(kid.split("-", 1)[0], _KID_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


class KeyRing:
    def __init__(self, *, path: Path | None = None, jwks_json: str | None = None) -> None:
        if (path is None) == (jwks_json is None):
            raise ValueError("give a key file or a JWK set, not both")
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        if jwks_json is not None:
            self._load(json.loads(jwks_json))
        else:
            self._load_file()

    @classmethod
    def from_settings(cls, settings: Any) -> KeyRing:
        if settings.jwks:
            return cls(jwks_json=settings.jwks)
        path = Path(settings.jwks_file) if settings.jwks_file else None
        return cls(path=path or settings.data_path / "keys" / "jwks.json")

    # -- loading ---------------------------------------------------------------------------

    def _load(self, data: dict[str, Any]) -> None:
        keys = [RSAKey.import_key(k) for k in data.get("keys", [])]
        if not keys or any(not k.is_private or not k.kid for k in keys):
            raise ValueError("the JWK set needs at least one private RSA key, each with a kid")
        self._private = keys
        self._signing = KeySet([keys[0]])
        self._public = KeySet.import_key_set({"keys": [self._public_dict(k) for k in keys]})

    @staticmethod
    def _public_dict(key: RSAKey) -> dict[str, Any]:
        return {**key.as_dict(private=False), "use": "sig", "alg": ALG}

    def _load_file(self) -> None:
        assert self.path is not None
        if not self.path.exists():
            self._write([_new_key(datetime.now(UTC))])
        self._mtime = self.path.stat().st_mtime
        self._load(json.loads(self.path.read_text()))

    def _write(self, keys: list[RSAKey]) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"keys": [k.as_dict(private=True) for k in keys]}, fh)
        os.replace(tmp, self.path)

    def maybe_reload(self) -> None:
        """Pick up a rotation made by another process (a stat, no read, when unchanged)."""
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            with self._lock:
                self._load_file()

    # -- use ---------------------------------------------------------------------------------

    @property
    def signing(self) -> KeySet:
        return self._signing

    @property
    def current_kid(self) -> str:
        return self._private[0].kid or ""

    @property
    def verifying(self) -> KeySet:
        return self._public

    def kids(self) -> list[str]:
        return [k.kid or "" for k in self._private]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._public_dict(k) for k in self._private]}

    # -- rotation (file-backed rings only) -------------------------------------------------

    def rotate(self, now: datetime | None = None) -> str:
        if self.path is None:
            raise RuntimeError("keys given by configuration rotate by configuration")
        with self._lock:
            key = _new_key(now or datetime.now(UTC))
            self._write([key, *self._private])
            self._load_file()
            return key.kid or ""

    def prune(self, token_ttl: timedelta, now: datetime | None = None) -> list[str]:
        """Drop retired keys whose last token has expired; returns the kids dropped."""
        if self.path is None:
            raise RuntimeError("keys given by configuration rotate by configuration")
        now = now or datetime.now(UTC)
        with self._lock:
            keep, dropped = [self._private[0]], []
            for newer, key in zip(self._private, self._private[1:], strict=False):
                retired_at = kid_created_at(newer.kid or "")
                if retired_at is not None and retired_at + token_ttl < now:
                    dropped.append(key.kid or "")
                else:
                    keep.append(key)
            if dropped:
                self._write(keep)
                self._load_file()
            return dropped
