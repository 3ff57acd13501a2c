"""The broadcast channel on a fake clock: roll-call, acks, re-send and escalation, and
Last-Event-ID replay that shows each message exactly once across reconnects."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from warroom.command.broadcast import FeedEvent, select_pending
from warroom.command.clock import FakeClock
from warroom.command.errors import CommandError, NotFound
from warroom.command.service import Command
from warroom.store.db import Store

ROSTER = [
    {"name": "alice", "role": "commander", "next": "carol"},
    {"name": "bob", "role": "watcher", "next": "carol"},
    {"name": "carol", "role": "commander", "next": "dave"},
    {"name": "dave", "role": "admin"},
    {"name": "erin", "role": "viewer"},
]


@pytest.fixture
def cmd(tmp_path: Path) -> Command:
    clock = FakeClock(1_000_000)
    command = Command.open(engine=Store.open(tmp_path).engine, clock=clock, audit_clock=clock)
    command.broadcast.load_roster(ROSTER)
    return command


def test_roster_rejects_unknown_next(cmd: Command) -> None:
    with pytest.raises(CommandError, match="zed"):
        cmd.broadcast.load_roster([{"name": "a", "role": "viewer", "next": "zed"}])


def test_roster_rejects_a_person_listed_twice_and_keeps_the_old_one(cmd: Command) -> None:
    before = cmd.broadcast.recipients(["*"])
    twice = [{"name": "a", "role": "viewer"}, {"name": "a", "role": "commander"}]
    with pytest.raises(CommandError, match="listed twice: a"):
        cmd.broadcast.load_roster(twice)
    assert before and cmd.broadcast.recipients(["*"]) == before


def test_roll_call_and_acks(cmd: Command) -> None:
    b = cmd.broadcast
    everyone = b.send(text="Freeze deploys", roles=["*"], sender="alice", ack_within_ms=60_000)
    to_watch = b.send(
        text="Watch CN-GD", roles=["watcher", "admin"], sender="alice", ack_within_ms=60_000
    )
    assert to_watch > everyone
    assert b.roll_call(message_id=everyone).pending == ["alice", "bob", "carol", "dave", "erin"]
    assert b.roll_call(message_id=to_watch).pending == ["bob", "dave"]
    assert b.acknowledge(message_id=everyone, person="bob") is True
    assert b.acknowledge(message_id=everyone, person="bob") is False  # once is enough
    with pytest.raises(NotFound):
        b.acknowledge(message_id=to_watch, person="erin")  # it was not sent to erin
    call = b.roll_call(message_id=everyone)
    assert call.acked == ["bob"] and call.pending == ["alice", "carol", "dave", "erin"]


def test_resend_and_escalation_on_the_clock(cmd: Command) -> None:
    b, clock = cmd.broadcast, cmd.clock
    incident = cmd.incidents.declare(title="card down", commander="alice", by="alice")
    m = b.send(
        text="Card payments failing",
        roles=["commander"],
        sender="dave",
        ack_within_ms=60_000,
        incident_id=incident,
    )
    assert b.roll_call(message_id=m).pending == ["alice", "carol"]
    clock.advance(30)
    b.acknowledge(message_id=m, person="carol")
    clock.advance(29.999)
    assert b.escalate_due() == []  # alice has 1 ms left
    clock.advance(0.001)
    assert b.escalate_due() == [(m, "alice", None)]  # carol already has it: re-send only
    assert b.escalate_due() == []  # each delivery escalates once
    kinds = [(e.kind, e.target) for e in b.pending_for(person="alice", roles=["commander"])]
    assert kinds == [("message", "role:commander"), ("ack", "*"), ("resend", "person:alice")]

    m2 = b.send(
        text="Region down",
        roles=["watcher"],
        sender="alice",
        ack_within_ms=10_000,
        incident_id=incident,
    )
    clock.advance(10)
    assert b.escalate_due() == [(m2, "bob", "carol")]
    assert b.roll_call(message_id=m2).pending == ["bob", "carol"]
    carol = [e for e in b.pending_for(person="carol", roles=["commander"]) if e.message_id == m2]
    assert [e.kind for e in carol] == ["escalation"]
    clock.advance(10)
    assert b.escalate_due() == [(m2, "carol", "dave")]  # the chain goes on
    b.acknowledge(message_id=m2, person="dave")
    clock.advance(60)
    assert b.escalate_due() == []
    timeline = cmd.incidents.timeline(incident_id=incident)
    texts = [e["text"].split(" —")[0] for e in timeline]
    assert texts[1:] == [
        f"broadcast.send message:{m}: ok",
        f"broadcast.ack message:{m}: ok",
        f"broadcast.escalate message:{m}: ok",
        f"broadcast.send message:{m2}: ok",
        f"broadcast.escalate message:{m2}: ok",
        f"broadcast.escalate message:{m2}: ok",
        f"broadcast.ack message:{m2}: ok",
    ]
    assert [e["ts_ms"] - timeline[0]["ts_ms"] for e in timeline[1:]] == [
        0,
        30_000,
        60_000,
        60_000,
        70_000,
        80_000,
        80_000,
    ]


def test_replay_after_last_event_id_shows_each_message_once(cmd: Command) -> None:
    """A client that drops at random points and reconnects with its last id sees every
    message meant for it exactly once, in order."""
    b, rng = cmd.broadcast, random.Random(5)
    audiences = [["*"], ["commander"], ["watcher"], ["commander", "watcher"], ["admin"]]
    sent: list[tuple[int, list[str]]] = []
    shown: list[int] = []
    last = 0
    for i in range(100):
        roles = audiences[i % len(audiences)]
        sent.append((b.send(text=f"m{i}", roles=roles, sender="dave", ack_within_ms=1), roles))
        if rng.random() < 0.3:  # connected now: read what is pending, maybe drop mid-way
            events = b.pending_for(person="bob", roles=["watcher"], last_event_id=last)
            keep = events[: rng.randint(0, len(events))]
            shown += [e.message_id for e in keep if e.kind == "message"]
            last = keep[-1].event_id if keep else last
    events = b.pending_for(person="bob", roles=["watcher"], last_event_id=last)
    shown += [e.message_id for e in events if e.kind == "message"]
    want = [m for m, roles in sent if "*" in roles or "watcher" in roles]
    assert shown == want


def test_select_pending_is_pure_and_matches_targets() -> None:
    events = [
        FeedEvent(1, 1, "*", "message"),
        FeedEvent(2, 2, "role:commander role:watcher", "message"),
        FeedEvent(3, 2, "person:bob", "resend"),
        FeedEvent(4, 3, "role:admin", "message"),
    ]
    got = select_pending(reversed(events), person="bob", roles=["watcher"], last_event_id=1)
    assert [e.event_id for e in got] == [2, 3]
    assert [e.event_id for e in select_pending(events, person=None, roles=[], last_event_id=0)] == [
        1
    ]


def test_roster_file_and_cli_ack(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from warroom.cli import app

    roster = tmp_path / "roster.yaml"
    roster.write_text(
        "people:\n  - {name: ann, role: commander, next: ben}\n  - {name: ben, role: watcher}\n"
    )
    cmd = Command.open(engine=Store.open(tmp_path / "state").engine, clock=FakeClock(0))
    cmd.broadcast.load_roster_file(roster)
    m = cmd.broadcast.send(text="go", roles=["*"], sender="ann", ack_within_ms=1_000)
    args = ["broadcast", "ack", "--data", str(tmp_path / "state"), "--message", str(m)]
    out = CliRunner().invoke(app, [*args, "--person", "ben"])
    assert out.exit_code == 0 and '"first": true' in out.output, out.output
    assert cmd.broadcast.roll_call(message_id=m).acked == ["ben"]
    bad = CliRunner().invoke(app, [*args, "--person", "zed"])
    assert bad.exit_code == 2 and "not sent to zed" in bad.output
