"""The command pages in Debian's Chromium (Playwright): two people on one plan run (the
requester's approve is refused, the approver's succeeds), a waiting step's countdown to
its time-out and a notify step's per-merchant delivery, the broadcast page's roll-call
and exactly-once display across a server restart, and the incident page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from notify_receiver import Receiver
from test_api_support import T0, Server, auth, free_port, ndjson, order
from warroom.auth.tokens import TokenStore
from warroom.browser import CHROMIUM, HEADLESS_ARGS
from warroom.store.db import Store

sync_api = pytest.importorskip("playwright.sync_api")
ARGS = list(HEADLESS_ARGS)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"
)
PEOPLE = {"alice": "commander", "bob": "commander", "root": "admin", "feeder": "ingest"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    data = tmp_path_factory.mktemp("cmdweb") / "state"
    store = TokenStore(Store.open(data).engine)
    tokens = {n: store.create(role=r, name=n)[0] for n, r in PEOPLE.items()}
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", port, data)
    srv.start("--tick", "0.5")
    try:
        yield srv, tokens
    finally:
        srv.stop()


def call(srv: Server, token: str, method: str, path: str, **kw: object) -> dict:
    r = httpx.request(method, f"{srv.url}/api/v1{path}", headers=auth(token), timeout=30, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def person(browser: object, srv: Server, token: str, page: str, problems: list[str]):
    """One person: a browser context of their own (own session storage, own token)."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 900})  # type: ignore[attr-defined]
    p = ctx.new_page()
    p.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: problems.append(str(e)))
    p.goto(f"{srv.url}/wall/{page}#token={token}")
    return p


def test_two_people_on_a_plan_run(env, browser):
    srv, tokens = env
    run = call(
        srv,
        tokens["alice"],
        "POST",
        "/runs",
        json={"plan": "payment-channel-down", "params": {"method": "card"}},
    )
    problems: list[str] = []
    alice = person(browser, srv, tokens["alice"], f"run.html?run={run['id']}", problems)
    bob = person(browser, srv, tokens["bob"], f"run.html?run={run['id']}", problems)
    alice.get_by_test_id("approve-0").click()
    alice.wait_for_selector("[data-testid=note]:has-text('two-person rule')")
    assert alice.get_by_test_id("state-0").text_content() == "waiting_approval"

    bob.get_by_test_id("approve-0").click()
    bob.wait_for_selector("[data-testid=state-0]:has-text('done')")
    assert bob.get_by_test_id("state-1").text_content() == "waiting_approval"
    alice.wait_for_selector("[data-testid=state-0]:has-text('done')", timeout=10_000)  # refresh
    assert "by bob" in alice.locator("tr[data-step='0']").inner_text()
    steps = call(srv, tokens["root"], "GET", f"/runs/{run['id']}")["steps"]
    assert [s["state"] for s in steps[:2]] == ["done", "waiting_approval"]
    assert steps[0]["decided_by"] == "bob"

    bob.get_by_test_id("reject-1").click()
    bob.wait_for_selector("[data-testid=run-state]:has-text('rejected')")
    ARTIFACTS.mkdir(exist_ok=True)
    bob.screenshot(path=str(ARTIFACTS / "plan-run.png"))
    # the browser logs the refused approve (403) as a failed load; nothing else went wrong
    assert [p for p in problems if "status of 403" not in p] == []
    assert len(problems) == 1


def seconds_left(text: str) -> int:
    m = re.fullmatch(r"(?:(\d+)h )?(?:(\d+)m )?(\d+)s left", text)
    assert m, text
    h, mins, sec = (int(g or 0) for g in m.groups())
    return h * 3600 + mins * 60 + sec


def test_a_run_counts_down_and_shows_each_merchants_delivery(env, browser):
    srv, tokens = env
    shops = ["m1", "m2", "m3"]
    records = [{**order(500 + i, T0 + i), "merchant_id": shops[i % 3]} for i in range(6)]
    r = httpx.post(
        f"{srv.url}/api/v1/ingest", content=ndjson(records), headers=auth(tokens["feeder"])
    )
    assert r.status_code == 200, r.text
    params = {"merchants": shops, "skus": ["s1"]}
    run = call(
        srv, tokens["alice"], "POST", "/runs", json={"plan": "catalog-scrambled", "params": params}
    )
    problems: list[str] = []
    bob = person(browser, srv, tokens["bob"], f"run.html?run={run['id']}", problems)
    # the waiting step counts down to its time-out (5m) on the server's clock
    left = bob.get_by_test_id("left-0")
    left.wait_for()
    first = seconds_left(left.inner_text())
    assert 240 < first <= 300
    bob.wait_for_function(
        "document.querySelector('[data-testid=left-0]').textContent !== "
        + json.dumps(left.inner_text()),
        timeout=5_000,
    )
    assert seconds_left(left.inner_text()) < first
    assert bob.get_by_test_id("left-1").count() == 0  # only the step waiting for approval

    with Receiver() as ok, Receiver([404]) as gone:
        # m3 has no endpoint at all: it fails at once, and the page says why
        hooks = {"merchants": {"m1": ok.url, "m2": gone.url}}
        (srv.data_dir / "merchants.yaml").write_text(json.dumps(hooks))
        bob.get_by_test_id("approve-0").click()
        bob.wait_for_selector("[data-testid=state-0]:has-text('done')")
        assert 540 < seconds_left(bob.get_by_test_id("left-1").inner_text()) <= 600
        bob.get_by_test_id("approve-1").click()
        bob.wait_for_selector("[data-testid=state-1]:has-text('done')")
        bob.wait_for_selector("[data-testid=dcount-1-failed]:has-text('2')", timeout=15_000)
        bob.wait_for_selector("[data-testid=dcount-1-sent]:has-text('1')", timeout=15_000)
    assert bob.get_by_test_id("dcount-1-pending").inner_text() == "0"
    assert "3 merchants" in bob.get_by_test_id("delivery-1").inner_text()
    assert "HTTP 404" in bob.get_by_test_id("dfail-1-m2").inner_text()
    m3 = bob.get_by_test_id("dfail-1-m3").inner_text()
    assert "no endpoint configured for merchant m3" in m3 and "failed" in m3.lower()
    assert bob.get_by_test_id("dfail-1-m1").count() == 0
    assert seconds_left(bob.get_by_test_id("left-2").inner_text()) > 540  # the next step

    # the merchant's operator acknowledges with its own token; the page follows
    made = call(srv, tokens["root"], "POST", "/tokens", json={"role": "merchant", "merchant": "m1"})
    mine = call(srv, made["token"], "GET", "/merchant/notices")
    assert [n["merchant_id"] for n in mine] == ["m1"]
    call(srv, made["token"], "POST", f"/merchant/notices/{mine[0]['id']}/ack")
    bob.wait_for_selector("[data-testid=dcount-1-acked]:has-text('1')", timeout=10_000)
    assert bob.get_by_test_id("dcount-1-sent").inner_text() == "0"
    ARTIFACTS.mkdir(exist_ok=True)
    bob.screenshot(path=str(ARTIFACTS / "plan-run-delivery.png"))
    assert problems == []


def test_broadcast_roll_call_and_each_message_once(env, browser):
    srv, tokens = env
    roster = [
        {"name": "alice", "role": "commander", "next": "root"},
        {"name": "bob", "role": "commander", "next": "root"},
        {"name": "root", "role": "admin"},
    ]
    call(srv, tokens["root"], "PUT", "/broadcast/roster", json={"people": roster})
    problems: list[str] = []
    alice = person(browser, srv, tokens["alice"], "broadcast.html", problems)
    bob = person(browser, srv, tokens["bob"], "broadcast.html", problems)
    bob.wait_for_function("window.__feed && window.__feed.me === 'bob'")
    earlier = call(srv, tokens["root"], "GET", "/broadcast/messages")  # e.g. a plan's step
    before = sum(1 for m in earlier if {"*", "commander"} & set(m["audience"]))
    bob.wait_for_function(f"window.__feed.shown.size === {before}")

    alice.get_by_test_id("text").fill("card payments failing: fallback route")
    alice.get_by_test_id("roles").fill("commander")
    alice.get_by_test_id("send").click()
    alice.wait_for_selector("[data-testid=note]:has-text('sent')")
    mid = int(alice.get_by_test_id("note").inner_text().split()[1])
    bob.wait_for_selector(f"[data-message='{mid}']")
    bob.get_by_test_id(f"ack-{mid}").click()
    bob.wait_for_selector(f"[data-testid=acked-{mid}]")
    alice.wait_for_selector(f"[data-testid=rc-acked-{mid}]:has-text('bob')")
    assert alice.get_by_test_id(f"rc-pending-{mid}").inner_text() == "… alice"

    # a restart drops every stream; the page comes back with Last-Event-ID, no repeats
    srv.stop()
    srv.start("--tick", "0.5")
    second = call(
        srv, tokens["alice"], "POST", "/broadcast", json={"message": "all clear", "roles": ["*"]}
    )
    bob.wait_for_selector(f"[data-message='{second['id']}']", timeout=20_000)
    bob.wait_for_timeout(1000)
    assert bob.locator("[data-testid=message]").count() == before + 2
    assert bob.locator(f"[data-message='{mid}']").count() == 1
    assert bob.locator(f"[data-testid=acked-{mid}]").count() == 1
    bob.screenshot(path=str(ARTIFACTS / "broadcast.png"))
    # the browser logs the refused connections while the server is down; nothing else
    assert [p for p in problems if "ERR_CONNECTION_REFUSED" not in p] == []


def test_incident_page(env, browser):
    srv, tokens = env
    problems: list[str] = []
    page = person(browser, srv, tokens["alice"], "incident.html", problems)
    page.get_by_test_id("title").fill("Card payments failing")
    page.get_by_test_id("declare").click()
    page.wait_for_selector("[data-testid=status]:has-text('active')")
    page.get_by_test_id("note-text").fill("acquirer paged")
    page.get_by_test_id("add-note").click()
    page.wait_for_selector("[data-testid=timeline] td:has-text('acquirer paged')")
    page.get_by_test_id("resolve").click()
    page.wait_for_selector("[data-testid=status]:has-text('resolved')")
    assert page.locator("#actions").is_hidden()
    with page.expect_download() as dl:
        page.get_by_test_id("review-md").click()
    text = Path(dl.value.path()).read_text()
    assert text.startswith("# Incident") and "acquirer paged" in text
    page.screenshot(path=str(ARTIFACTS / "incident.png"))
    assert problems == []
