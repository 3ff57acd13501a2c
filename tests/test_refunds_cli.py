"""The command line: `run --decisions-out` (deterministic, whatever the batch size),
`refunds replay` (what-if), `refunds eval` (targets on a simulated day), `refunds check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warroom.cli import app
from warroom.sim import SimConfig, simulate

cli = CliRunner()


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(SimConfig(minutes=2, rate=20, seed=3), out)
    return out


def run(day: Path, data: Path, out: Path, *extra: str) -> list[dict]:
    args = ["run", "--events", str(day / "events.ndjson"), "--rates", str(day / "rates.json")]
    args += ["--data", str(data), "--quiet", "--decisions-out", str(out), *extra]
    r = cli.invoke(app, args)
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_run_writes_one_decision_per_refund_deterministically(day, tmp_path):
    a = run(day, tmp_path / "a", tmp_path / "a.ndjson")
    b = run(day, tmp_path / "b", tmp_path / "b.ndjson", "--batch-bytes", "20000")
    assert (tmp_path / "a.ndjson").read_bytes() == (tmp_path / "b.ndjson").read_bytes()
    refunds = {
        json.loads(line)["id"]
        for line in (day / "events.ndjson").read_text().splitlines()
        if '"type":"refund"' in line
    }
    assert len(a) == len(refunds) == len(b)
    assert {d["decision"] for d in a} == {"approve", "review"}
    for d in a:
        assert set(d) == {"refund_id", "ts", "decision", "risk", "reasons"}
        assert 0 <= d["risk"] <= 1 and d["reasons"]
    held = [d for d in a if d["decision"] == "review"]
    assert all(d["risk"] >= 0.6 or "limit" in d["reasons"][0] for d in held)


def test_a_bad_policy_stops_the_run_naming_the_field(day, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("review:\n  risk_at: 7\n")
    args = ["run", "--events", str(day / "events.ndjson"), "--data", str(tmp_path / "s")]
    args += ["--decisions-out", str(tmp_path / "d.ndjson"), "--refund-policy", str(bad)]
    r = cli.invoke(app, args)
    assert r.exit_code == 2
    assert "bad.yaml: field review.risk_at" in " ".join(r.output.split())


def test_replay_shows_what_a_stricter_policy_would_change(day, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text("review:\n  risk_at: 0.3\n")
    args = ["refunds", "replay", "--events", str(day / "events.ndjson"), "--policy", str(strict)]
    r = cli.invoke(app, [*args, "--rates", str(day / "rates.json")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "sent to review" in text and "held for review" in text and "CNY" in text
    changed = int(text.split(" refunds change decision")[0].split()[-1].replace(",", ""))
    assert changed > 0 and "buyers who move" in text and "u-" in text


def test_eval_meets_the_targets_on_a_small_day(day):
    r = cli.invoke(app, ["refunds", "eval", "--scenario-dir", str(day)])
    assert r.exit_code == 0, r.output
    row = json.loads(next(line for line in r.output.splitlines() if line.startswith("{")))
    assert row["honest_approved_share"] >= 0.995
    assert row["precision"] >= 0.9 and row["recall"] >= 0.9 and row["ring_buyers"] == 30


def test_check_prints_the_policy_with_defaults(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("auto_approve: {max_amount: 10, trusted_max_amount: 20}\n")
    r = cli.invoke(app, ["refunds", "check", str(p)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["auto_approve"]["max_amount"] == "10"


def test_queue_and_verdict_from_the_command_line(day, tmp_path):
    run(day, tmp_path / "s", tmp_path / "d.ndjson")
    r = cli.invoke(app, ["refunds", "queue", "--data", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    held = [json.loads(line) for line in r.output.splitlines()]
    assert held and {h["status"] for h in held} == {"pending"}
    rid = held[0]["refund_id"]
    args = ["refunds", "verdict", "--data", str(tmp_path / "s"), rid, "approve"]
    r = cli.invoke(app, [*args, "--note", "checked the parcel"])
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "approved_by_reviewer"
    r = cli.invoke(app, args)
    assert r.exit_code == 2 and "not waiting for review" in r.output
