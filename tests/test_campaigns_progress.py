"""Progress against target and plan, checked by hand on a small run; the behind-plan
alert (OUTPUTS.md record) fires and resolves; paused state comes from command's table."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from test_api_support import T0
from test_campaigns_support import CAMPAIGNS_YAML, build_state
from warroom.campaigns.model import Clock, parse_file
from warroom.campaigns.progress import evaluate, latest
from warroom.campaigns.service import BehindPlanWatch, paused_states
from warroom.command.tables import campaigns_t, create
from warroom.store.db import Store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store.open(build_state(tmp_path_factory.mktemp("camp")))


def progress_at(store: Store, now: int | None):
    f = parse_file(CAMPAIGNS_YAML)
    return {p.campaign.id: p for p in evaluate(store, f.campaigns, Clock(), now=now)}


def test_progress_by_hand_at_three_minutes(store: Store) -> None:
    got = progress_at(store, T0 + 180_000)
    p = got["c-01"]
    # twenty c-01 orders of 2 x 10.50 in the first 120 s; the two before 00:00 do not count
    assert p.actual["orders"] == 20 and p.actual["gmv"] == 20 * 2100
    assert p.actual["refunds"] == 2
    j = p.to_json(with_series=True)
    assert j["gmv"] == "420.00" and j["status"] == "live"
    assert j["elapsed"] == pytest.approx(0.3)
    # plan: 80 % by 00:05, linear before: 0.8 x 180/300 = 0.48 of 1000 = 480 planned
    assert j["planned_share"] == pytest.approx(0.48)
    assert j["targets"]["gmv"] == {
        "target": 1000.0,
        "actual": 420.0,
        "progress": pytest.approx(0.42),
        "planned": pytest.approx(480.0),
    }
    assert j["targets"]["orders"]["progress"] == pytest.approx(0.20)
    assert j["targets"]["refund_rate"] == {"target": 0.05, "actual": 0.1, "met": False}
    assert j["vs_plan"] == pytest.approx(-0.125) and j["behind"] is True
    # the chart: 5-second buckets, cumulative, ending at the figure
    assert p.bucket_ms == 5_000 and j["series"][-1]["actual"] == pytest.approx(420.0)
    assert [round(x["actual"], 2) for x in j["series"][:3]] == [21.0, 42.0, 63.0]
    (hour,) = j["hours"]
    assert hour["hour"] == "00:00" and hour["won"] is False and hour["complete"] is False
    assert hour["actual"] == pytest.approx(420.0) and hour["planned"] == pytest.approx(480.0)
    # region-scoped, cross-border: US-CA twice and JP-13 (GB-LND is not in scope)
    cb = got["cross-border"]
    assert cb.actual["orders"] == 3 and cb.primary == "orders"
    assert cb.planned_share == pytest.approx(0.3) and cb.vs_plan() == pytest.approx(0.0)
    assert cb.behind() is False


def test_progress_at_the_end_of_the_data(store: Store) -> None:
    now = latest(store)
    assert now == T0 + 301_000  # the last order's second has been finalised
    p = progress_at(store, None)["c-01"]
    assert p.actual["orders"] == 21 and p.actual["gmv"] == 21 * 2100
    share = 0.8 + 0.2 * 1_000 / 300_000
    assert p.planned_share == pytest.approx(share)
    assert p.vs_plan() == pytest.approx(441 / (1000 * share) - 1)


def test_behind_plan_alert_fires_then_resolves(store: Store) -> None:
    watch = BehindPlanWatch()
    assert watch.step(list(progress_at(store, T0 + 60_000).values())) == []  # 210 vs 160: ahead
    (alert,) = watch.step(list(progress_at(store, T0 + 180_000).values()))
    assert alert == {
        "id": "campaign-c-01-behind-gmv",
        "state": "firing",
        "ts": T0 + 180_000,
        "source": "kpi",
        "metric": "gmv",
        "scope": {"campaign": "c-01"},
        "direction": "drop",
        "observed": 420.0,
        "expected": 480.0,
        "score": 0.625,
        "severity": "warning",
        "summary": alert["summary"],
    }
    assert "Opening Bell" in alert["summary"] and "12.5% behind plan" in alert["summary"]
    assert watch.step(list(progress_at(store, T0 + 181_000).values())) == []  # still firing
    (done,) = watch.step(list(progress_at(store, T0 + 60_000).values()))
    assert done["state"] == "resolved" and done["id"] == alert["id"]


def test_paused_campaign_shows_paused_and_is_not_judged(tmp_path: Path) -> None:
    store = Store.open(build_state(tmp_path))
    assert paused_states(store.engine) == {}  # command has not created its table yet
    create(store.engine)
    with store.engine.begin() as c:
        c.execute(
            sa.insert(campaigns_t).values(campaign="c-01", state="paused", changed_ms=1, ref="r1")
        )
    f = parse_file(CAMPAIGNS_YAML)
    got = evaluate(store, f.campaigns, now=T0 + 180_000, states=paused_states(store.engine))
    p = {x.campaign.id: x for x in got}["c-01"]
    assert p.to_json()["paused"] is True and p.behind() is True
    assert BehindPlanWatch().step(got) == []


def test_the_server_card_refresh_sends_behind_plan_alerts_to_the_alert_book(
    store: Store,
) -> None:
    from warroom.alerts.service import AlertBook
    from warroom.campaigns.model import parse_file
    from warroom.campaigns.service import CampaignBook, _refresh

    book = CampaignBook(store)
    book.replace_all(parse_file(CAMPAIGNS_YAML))
    alerts = AlertBook(store.engine)
    _refresh(book, T0 + 180_000, alerts.ingest)
    (shown,) = [a for a in alerts.recent(limit=10) if a["scope"] == {"campaign": "c-01"}]
    assert shown["state"] == "firing" and shown["metric"] == "gmv"
    assert [c["id"] for c in book.cards if c["behind"]] == ["c-01"]
