"""Bearer tokens: `wr_<id>_<secret>`; the database keeps only the SHA-256 of the token.

A merchant operator's token (role `merchant`) is scoped to one merchant id, kept in the
nullable `merchant_id` column; every other role's token has none. The column came after
the table, so opening a store adds it to an older `api_tokens` (old rows stay unscoped).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from warroom.auth.roles import ROLES, SCOPED_ROLES
from warroom.contract.rules import ID_MAX_LEN
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
    sa.Column("merchant_id", sa.String, nullable=True),  # only for role merchant
)
_ADDED_LATER = ("merchant_id",)  # nullable columns an older store lacks
_CACHE_SECONDS = 5.0  # a token revoked from another process stops working within this


class TokenError(WarroomError):
    """A token request names an unknown role or token, or a wrong merchant scope."""

    def __init__(self, message: str, field: str = "role") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TokenInfo:
    id: str
    role: str
    name: str
    created_ms: int
    revoked: bool
    merchant_id: str | None = None  # the one merchant a `merchant` token acts for


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _add_missing_columns(engine: sa.Engine) -> None:
    """Bring an `api_tokens` made before a column existed up to date: ADD COLUMN of a
    nullable column, so the old rows read as NULL (unscoped) and nothing else changes."""
    have = {c["name"] for c in sa.inspect(engine).get_columns(tokens_t.name)}
    for name in _ADDED_LATER:
        if name in have:
            continue
        kind = tokens_t.c[name].type.compile(engine.dialect)
        try:
            with engine.begin() as c:
                c.execute(sa.text(f"ALTER TABLE {tokens_t.name} ADD COLUMN {name} {kind}"))
        except sa.exc.DBAPIError:
            # another process opening the same store may have added it first
            fresh = {c["name"] for c in sa.inspect(engine).get_columns(tokens_t.name)}
            if name not in fresh:
                raise


def check_scope(role: str, merchant_id: str | None) -> str | None:
    """The merchant id a token of `role` is scoped to; TokenError when the pair is wrong."""
    if role not in ROLES:
        raise TokenError(f"role: unknown {role!r}; roles are {', '.join(ROLES)}")
    if role not in SCOPED_ROLES:
        if merchant_id is not None:
            raise TokenError(
                f"merchant: only a merchant token is scoped to a merchant, not {role}", "merchant"
            )
        return None
    if merchant_id is None or not merchant_id.strip():
        raise TokenError("merchant: a merchant token needs the merchant id it acts for", "merchant")
    if merchant_id != merchant_id.strip() or len(merchant_id) > ID_MAX_LEN:
        raise TokenError(
            f"merchant: {merchant_id!r} is not a merchant id (1-{ID_MAX_LEN} characters, "
            "no surrounding spaces)",
            "merchant",
        )
    return merchant_id


class TokenStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        _add_missing_columns(engine)
        self._cache: dict[str, tuple[float, TokenInfo | None]] = {}

    def create(
        self, *, role: str, name: str = "", merchant: str | None = None
    ) -> tuple[str, TokenInfo]:
        """A new token; its text is returned once and never stored. `merchant` is
        required for role merchant and refused for every other role."""
        merchant_id = check_scope(role, merchant)
        tid = secrets.token_hex(4)
        token = f"wr_{tid}_{secrets.token_urlsafe(24)}"
        info = TokenInfo(tid, role, name or role, int(time.time() * 1000), False, merchant_id)
        with self.engine.begin() as c:
            c.execute(
                sa.insert(tokens_t).values(
                    id=tid,
                    role=role,
                    name=info.name,
                    sha256=_digest(token),
                    created_ms=info.created_ms,
                    revoked=False,
                    merchant_id=merchant_id,
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
    return TokenInfo(row.id, row.role, row.name, row.created_ms, bool(row.revoked), row.merchant_id)
