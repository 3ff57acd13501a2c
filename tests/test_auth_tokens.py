"""Tokens: the merchant scope (required for role merchant, refused for the others), the
command line that makes them, and a data directory from before the scope existed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from warroom.auth.tokens import TokenError, TokenStore
from warroom.cli import app as cli
from warroom.store.db import Store


def test_a_merchant_token_carries_its_merchant(tmp_path: Path):
    store = TokenStore(Store.open(tmp_path / "state").engine)
    token, info = store.create(role="merchant", merchant="m-1", name="li.wei")
    assert (info.role, info.merchant_id) == ("merchant", "m-1")
    assert store.verify(token) == info
    _, staff = store.create(role="watcher")
    assert staff.merchant_id is None
    with pytest.raises(TokenError, match="needs the merchant id") as missing:
        store.create(role="merchant")
    assert missing.value.field == "merchant"
    with pytest.raises(TokenError, match="only a merchant token"):
        store.create(role="commander", merchant="m-1")
    for bad in ("", "  ", " m-1", "m" * 129):
        with pytest.raises(TokenError, match="merchant"):
            store.create(role="merchant", merchant=bad)
    assert [i.merchant_id for i in store.list()] == ["m-1", None]


def test_token_create_on_the_command_line(tmp_path: Path):
    data = str(tmp_path / "state")
    run = CliRunner().invoke
    out = run(cli, ["token", "create", "--data", data, "--role", "merchant", "--merchant", "m-7"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("wr_")
    refused = run(cli, ["token", "create", "--data", data, "--role", "merchant"])
    assert refused.exit_code == 2 and "needs the merchant id" in refused.output
    refused = run(cli, ["token", "create", "--data", data, "--role", "admin", "--merchant", "m"])
    assert refused.exit_code == 2 and "only a merchant token" in refused.output
    listed = run(cli, ["token", "list", "--data", data])
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["role"], r["merchant_id"]) for r in rows] == [("merchant", "m-7")]


def test_a_store_from_before_the_merchant_column_is_upgraded_on_open(tmp_path: Path):
    """The old `api_tokens` (no merchant_id) gains the column; old tokens keep working,
    unscoped, and opening again (or from a second process) changes nothing."""
    engine = Store.open(tmp_path / "state").engine
    old = "wr_0ld00000_old-secret"
    with engine.begin() as c:
        c.execute(sa.text("DROP TABLE IF EXISTS api_tokens"))
        c.execute(
            sa.text(
                "CREATE TABLE api_tokens (id VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, "
                "name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL UNIQUE, "
                "created_ms BIGINT NOT NULL, revoked BOOLEAN NOT NULL)"
            )
        )
        c.execute(
            sa.text("INSERT INTO api_tokens VALUES ('0ld00000', 'commander', 'ann', :h, 1, 0)"),
            {"h": hashlib.sha256(old.encode()).hexdigest()},
        )
    store = TokenStore(engine)
    info = store.verify(old)
    assert info is not None and (info.name, info.role, info.merchant_id) == (
        "ann",
        "commander",
        None,
    )
    scoped, _ = store.create(role="merchant", merchant="m-1")
    again = TokenStore(engine)  # the column is there now: nothing to add
    assert again.verify(scoped).merchant_id == "m-1"  # type: ignore[union-attr]
    assert again.verify(old) == info
    columns = [c["name"] for c in sa.inspect(engine).get_columns("api_tokens")]
    assert columns.count("merchant_id") == 1
