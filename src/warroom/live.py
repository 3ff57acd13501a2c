"""`warroom demo`: a simulated Double 11, streamed live into the engine, on a terminal wall.

The terminal wall stands in until the big screen exists: it shows what the engine has
finalised (exact, per second) and its counters, refreshed as windows close.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from warroom.contract.rates import RatesTable
from warroom.engine.engine import SECOND, Engine, StepResult
from warroom.runner import Runner, RunOptions
from warroom.series.metrics import format_money

console = Console()


@dataclass
class Wall:
    """Running figures of the day, from finalised one-second cells."""

    digits: int = 2
    gmv: int = 0
    orders: int = 0
    pay_attempts: int = 0
    pay_ok: int = 0
    refunds: int = 0
    event_time: int = 0
    last_orders_per_s: int = 0
    by_region: Counter[str] = field(default_factory=Counter)
    by_method_ok: Counter[str] = field(default_factory=Counter)
    by_method_all: Counter[str] = field(default_factory=Counter)

    def add(self, engine: Engine, step: StepResult) -> None:
        coded = step.cells.get(SECOND)
        if coded is None or coded.height == 0:
            return
        cells = engine.label(coded)
        market = cells.filter(pl.col("gset") == 0).sort("win")
        self.gmv += int(market["gmv"].sum())
        self.orders += int(market["orders"].sum())
        self.pay_attempts += int(market["pay_attempts"].sum())
        self.pay_ok += int(market["pay_successes"].sum())
        self.refunds += int(market["refunds"].sum())
        self.event_time = int(market["win"].max())  # type: ignore[arg-type]
        self.last_orders_per_s = int(market["orders"][-1])
        for region, gmv in (
            cells.filter(pl.col("gset") == 1).group_by("k1").agg(pl.col("gmv").sum()).iter_rows()
        ):
            self.by_region[region] += gmv
        methods = (
            cells.filter(pl.col("gset") == 5)
            .group_by("k1")
            .agg(pl.col("pay_successes").sum(), pl.col("pay_attempts").sum())
        )
        for method, ok, attempts in methods.iter_rows():
            self.by_method_ok[method] += ok
            self.by_method_all[method] += attempts

    def render(self, runner: Runner) -> Group:
        c = runner.engine.counters
        stamp = time.strftime("%H:%M:%S", time.gmtime(self.event_time / 1000 + 8 * 3600))
        rate = self.pay_ok / self.pay_attempts if self.pay_attempts else 0.0
        head = Table.grid(padding=(0, 3))
        head.add_row(
            f"[bold]GMV[/] [bold green]{format_money(self.gmv, self.digits)} CNY",
            f"[bold]event time[/] {stamp} +08:00",
        )
        head.add_row(
            f"[bold]orders[/] {self.orders:,}   [bold]orders/s[/] {self.last_orders_per_s:,}",
            f"[bold]payment success[/] {rate:.2%}   [bold]refunds[/] {self.refunds:,}",
        )
        regions = Table("region", "GMV (CNY)", title="top regions")
        for region, gmv in self.by_region.most_common(8):
            regions.add_row(region, format_money(gmv, self.digits))
        methods = Table("method", "success rate", title="payment methods")
        for method, attempts in self.by_method_all.most_common(6):
            if method != "unknown" and attempts:
                methods.add_row(method, f"{self.by_method_ok[method] / attempts:.2%}")
        ingest = (
            f"read {c.read:,}  accepted {c.accepted:,}  quarantined {c.quarantined:,}  "
            f"duplicates {c.duplicates:,}  late {c.late:,}"
        )
        grid = Table.grid(padding=(0, 4))
        grid.add_row(regions, methods)
        return Group(
            Panel(head, title="warroom — Double 11 live"), grid, Panel(ingest, title="ingest")
        )


def run_demo(
    workdir: Path, minutes: float, rate: float, speed: float, stop_after: float | None = None
) -> None:
    from warroom.sim import SimConfig, simulate

    sim_dir = workdir / "sim"
    if not (sim_dir / "events.ndjson").exists():
        with console.status("simulating the day..."):
            simulate(SimConfig(minutes=minutes, rate=rate), sim_dir)
    opts = RunOptions(
        events=str(sim_dir / "events.ndjson"),
        data_dir=workdir / "state",
        rates=sim_dir / "rates.json",
        catalog=sim_dir / "catalog.ndjson",
        live_speed=speed,
        checkpoint_seconds=5.0,
    )
    wall = Wall(digits=RatesTable.load(opts.rates).base_digits)
    holder: dict[str, Runner] = {}
    runner = Runner(opts, on_step=lambda step: wall.add(holder["r"].engine, step))
    holder["r"] = runner
    started = time.monotonic()
    with Live(wall.render(runner), console=console, refresh_per_second=2) as live:

        def tick(_pos: int, _counters: object) -> None:
            live.update(wall.render(runner))
            if stop_after is not None and time.monotonic() - started > stop_after:
                raise KeyboardInterrupt

        try:
            runner.run(progress=tick)
        except KeyboardInterrupt:
            runner.checkpoint(complete=False)
    console.print(
        f"state kept in {opts.data_dir}: try `warroom export --data {opts.data_dir} "
        "--metric gmv --by region --every 1m`"
    )


def run_web_demo(
    workdir: Path, minutes: float, rate: float, speed: float, host: str, port: int
) -> None:
    """The simulated day replayed live into the server: open http://HOST:PORT/ to watch."""
    from warroom.api.server import serve
    from warroom.api.settings import ServeSettings
    from warroom.sim import SimConfig, simulate

    sim_dir = workdir / "sim"
    if not (sim_dir / "events.ndjson").exists():
        with console.status("simulating the day..."):
            simulate(SimConfig(minutes=minutes, rate=rate), sim_dir)
    settings = ServeSettings(
        data_dir=workdir / "state",
        host=host,
        port=port,
        open_role="viewer",  # the local demo's page needs no token
        events=str(sim_dir / "events.ndjson"),
        rates=sim_dir / "rates.json",
        catalog=sim_dir / "catalog.ndjson",
        speed=speed,
    )
    _load_demo_campaigns(workdir / "state", minutes)
    console.print(f"warroom demo: the wall at [bold]http://{host}:{port}/[/]  (Ctrl-C stops)")
    serve(settings)


DEMO_CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns" / "double11.yaml"


def _load_demo_campaigns(data_dir: Path, minutes: float) -> None:
    """The demo's eleven campaigns, their day squeezed into the demo's minutes (issue 8)."""
    from warroom.campaigns.service import CampaignBook
    from warroom.store.db import Store

    if DEMO_CAMPAIGNS.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        CampaignBook(Store.open(data_dir)).load(DEMO_CAMPAIGNS, day_minutes=minutes)
