"""Bearer tokens: `wr_<id>_<secret>`; the database keeps only the SHA-256 of the token."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from warroom.auth.roles import ROLES
from warroom.errors import WarroomError

metadata = sa.MetaData()
tokens_t = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("sha256", sa.String, nullable=False, unique=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)
_CACHE_SECONDS = 5.0  # a token revoked from another process stops working within this


class TokenError(WarroomError):
    """A token request names an unknown role or token."""


@dataclass(frozen=True)
class TokenInfo:
    id: str
    role: str
    name: str
    created_ms: int
    revoked: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        self._cache: dict[str, tuple[float, TokenInfo | None]] = {}

    def create(self, *, role: str, name: str = "") -> tuple[str, TokenInfo]:
        """A new token; its text is returned once and never stored."""
        if role not in ROLES:
            raise TokenError(f"role: unknown {role!r}; roles are {', '.join(ROLES)}")
        tid = secrets.token_hex(4)
        token = f"wr_{tid}_{secrets.token_urlsafe(24)}"
        info = TokenInfo(tid, role, name or role, int(time.time() * 1000), False)
        with self.engine.begin() as c:
            c.execute(
                sa.insert(tokens_t).values(
                    id=tid,
                    role=role,
                    name=info.name,
                    sha256=_digest(token),
                    created_ms=info.created_ms,
                    revoked=False,
                )
            )
        return token, info

    def verify(self, token: str) -> TokenInfo | None:
        digest = _digest(token)
        hit = self._cache.get(digest)
        if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
            return hit[1]
        with self.engine.connect() as c:
            row = c.execute(sa.select(tokens_t).where(tokens_t.c.sha256 == digest)).first()
        info = None if row is None or row.revoked else _info(row)
        self._cache[digest] = (time.monotonic(), info)
        return info

    def list(self) -> list[TokenInfo]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(tokens_t).order_by(tokens_t.c.created_ms)).all()
        return [_info(r) for r in rows]

    def revoke(self, token_id: str) -> bool:
        with self.engine.begin() as c:
            done = c.execute(
                sa.update(tokens_t).where(tokens_t.c.id == token_id).values(revoked=True)
            ).rowcount
        self._cache.clear()
        return bool(done)


def _info(row: sa.Row) -> TokenInfo:
    return TokenInfo(row.id, row.role, row.name, row.created_ms, bool(row.revoked))
