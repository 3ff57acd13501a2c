"""kill -9 at random moments during `warroom run`, then finish: byte-equal to a clean run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventgen import stream
from warroom.store.db import Store
from warroom.store.dump import dump

N_ORDERS = 70_000  # about 210,000 events with payments, refunds and visits


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "events.ndjson"
    rng = random.Random(11)
    events = stream(rng, N_ORDERS, span_ms=600_000)
    lines = [e.line() for e in events]
    # some trouble: a bad line, redeliveries and a few records past the lateness
    lines.insert(1000, b'{"type":"order","id":"bad"')
    lines[5000:5000] = lines[4000:4010]
    lines[150_000:150_000] = [line.replace(b'"id":"e-', b'"id":"late-') for line in lines[10:20]]
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert len(lines) >= 200_000
    return path


def _run(
    events: Path, data: Path, batch_bytes: int = 1 << 20, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "warroom.cli",
        "run",
        "--events",
        str(events),
        "--data",
        str(data),
        "--rates",
        str(data.parent / "rates.json"),
        "--quiet",
        "--checkpoint-seconds",
        "0.1",
        "--batch-bytes",
        str(batch_bytes),
        *extra,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(
    events: Path, data: Path, batch_bytes: int = 1 << 20, extra: tuple[str, ...] = ()
) -> None:
    proc = _run(events, data, batch_bytes, extra)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()


def _timed_finish(events: Path, data: Path) -> float:
    started = time.monotonic()
    _finish(events, data)
    return time.monotonic() - started


def kill_during_runs(
    events: Path,
    data: Path,
    rng: random.Random,
    after: tuple[float, float],
    most: int,
    extra: tuple[str, ...] = (),
) -> int:
    """Start runs and SIGKILL each at a random moment in `after` (seconds) until `most`
    were killed (or runs keep finishing first); returns how many were killed."""
    kills = 0
    for _ in range(3 * most):
        proc = _run(events, data, rng.choice((1 << 18, 1 << 20, 3 << 20)), extra)
        time.sleep(rng.uniform(*after))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if kills == most:
            break
    return kills


def test_kill_9_at_random_points_then_resume_is_byte_equal(
    events_file: Path, tmp_path: Path
) -> None:
    from conftest import RATES_DOC

    (tmp_path / "rates.json").write_text(json.dumps(RATES_DOC))
    clean = tmp_path / "clean"
    clean_seconds = _timed_finish(events_file, clean)
    expected = dump(Store.open(clean))
    assert b"# late" in expected and b"# quarantine" in expected

    crashed = tmp_path / "crashed"
    kills = kill_during_runs(
        events_file, crashed, random.Random(5), (0.15 * clean_seconds, 0.6 * clean_seconds), 4
    )
    assert kills >= 2
    _finish(events_file, crashed, batch_bytes=1 << 19)
    assert dump(Store.open(crashed)) == expected


def test_output_is_the_same_whatever_the_batch_size(events_file: Path, tmp_path: Path) -> None:
    from conftest import RATES_DOC

    (tmp_path / "rates.json").write_text(json.dumps(RATES_DOC))
    dumps = []
    for size in (1 << 17, 4 << 20):
        data = tmp_path / f"b{size}"
        _finish(events_file, data, size)
        dumps.append(dump(Store.open(data)))
    assert dumps[0] == dumps[1]


def test_alerts_and_refund_decisions_after_kill_9_equal_a_clean_runs(tmp_path: Path) -> None:
    """The watch and the refund guard checkpoint with the engine, and their output files
    are cut back to the checkpoint on resume: nothing told twice, nothing missed."""
    from warroom.sim import SimConfig, simulate

    day = tmp_path / "day"
    simulate(SimConfig(minutes=2, rate=40, seed=5), day)
    events = day / "events.ndjson"
    (tmp_path / "rates.json").write_bytes((day / "rates.json").read_bytes())

    def outputs(name: str) -> tuple[str, ...]:
        return (
            "--alerts-out",
            str(tmp_path / f"{name}.alerts"),
            "--decisions-out",
            str(tmp_path / f"{name}.decisions"),
        )

    started = time.monotonic()
    _finish(events, tmp_path / "clean", extra=outputs("clean"))
    took = time.monotonic() - started
    kills = kill_during_runs(
        events, tmp_path / "crashed", random.Random(8), (0.2 * took, 0.8 * took), 3,
        outputs("crashed"),
    )  # fmt: skip
    assert kills >= 2
    _finish(events, tmp_path / "crashed", extra=outputs("crashed"))
    for kind in ("alerts", "decisions"):
        clean = (tmp_path / f"clean.{kind}").read_bytes()
        assert clean.count(b"\n") >= 5, f"the day should produce {kind}"
        assert (tmp_path / f"crashed.{kind}").read_bytes() == clean, kind
    assert dump(Store.open(tmp_path / "crashed")) == dump(Store.open(tmp_path / "clean"))


def test_a_failed_background_checkpoint_stops_the_run_and_a_resume_is_equal(
    events_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` writes checkpoints in a writer thread: a commit that fails there must stop
    the run with its error (not be lost), and the next run resumes from the last commit
    that landed, with a result equal to a clean run's."""
    from conftest import RATES_DOC
    from warroom.runner import Runner, RunOptions

    (tmp_path / "rates.json").write_text(json.dumps(RATES_DOC))

    def options(data: Path) -> RunOptions:
        return RunOptions(
            events=str(events_file),
            data_dir=data,
            rates=tmp_path / "rates.json",
            batch_bytes=1 << 19,
            checkpoint_seconds=0.0,  # a checkpoint after every batch
        )

    Runner(options(tmp_path / "clean")).run()
    expected = dump(Store.open(tmp_path / "clean"))

    commit, calls = Store.commit, []

    def failing(store: Store, cp: object) -> None:
        calls.append(cp)
        if len(calls) == 4:
            raise OSError("disk full")
        commit(store, cp)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "commit", failing)
    with pytest.raises(OSError, match="disk full"):
        Runner(options(tmp_path / "failed")).run()
    monkeypatch.setattr(Store, "commit", commit)
    assert len(calls) == 4  # the run stopped at the failed one: nothing was built on it
    resumed = Runner(options(tmp_path / "failed"))
    assert resumed.resumed and resumed.line > 0
    resumed.run()
    assert dump(Store.open(tmp_path / "failed")) == expected


@pytest.mark.parametrize("fails", ["commit", "labelling"])
@pytest.mark.parametrize("background", [False, True])
def test_a_failed_checkpoint_is_written_by_the_next(
    events_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    background: bool,
    fails: str,
) -> None:
    """The server's writer goes on after a group commit fails (its requests get the
    error): what that commit held is pending again, and the next one writes it, so the
    store ends equal to a clean run's. In the background (the server's way), the
    engine has gone on meanwhile, and the runs and rollup parts the failed commit held
    were already counted as written; a resume from the last checkpoint must find them.
    New cells are labelled in the checkpoint thread: labelling can fail there too (at a
    checkpoint's second period, after its first was labelled)."""
    import warroom.runner
    from conftest import RATES_DOC
    from warroom.runner import Runner, RunOptions
    from warroom.sources import files

    (tmp_path / "rates.json").write_text(json.dumps(RATES_DOC))

    def options(data: Path) -> RunOptions:
        return RunOptions(events=str(events_file), data_dir=data, rates=tmp_path / "rates.json")

    Runner(options(tmp_path / "clean")).run()
    expected = dump(Store.open(tmp_path / "clean"))

    commit, calls = Store.commit, []

    def flaky(store: Store, cp: object) -> None:
        calls.append(cp)
        if len(calls) in (2, 3):
            raise OSError("database is locked")
        commit(store, cp)  # type: ignore[arg-type]

    label_with, labelled = warroom.runner.label_with, []

    def flaky_labels(cells: object, table: object, **how: bool) -> object:
        labelled.append(cells)
        if len(labelled) in (2, 3):  # each fails one checkpoint, maybe at its 2nd period
            raise MemoryError("labels")
        return label_with(cells, table, **how)  # type: ignore[arg-type]

    if fails == "commit":
        monkeypatch.setattr(Store, "commit", flaky)
    else:
        monkeypatch.setattr(warroom.runner, "label_with", flaky_labels)
    runner = Runner(options(tmp_path / "server"))
    failed = 0
    for chunk in files.ndjson_chunks(str(events_file), batch_bytes=1 << 20):
        assert chunk.data is not None
        batch = runner.decoder.decode_ndjson(chunk.data, chunk.first_line)
        runner.feed_many([(batch, str(events_file))], (chunk.end_offset, chunk.end_line))
        try:
            runner.wait_for_writes()  # the pipeline's way: the one before, landed or not
        except (OSError, MemoryError):
            failed += 1
        try:
            runner.checkpoint(complete=False, background=background)
        except (OSError, MemoryError):
            failed += 1
    try:
        runner.wait_for_writes()
    except (OSError, MemoryError):
        failed += 1
    assert failed == 2
    if background:  # resume from the last checkpoint that landed, as after a crash
        runner = Runner(options(tmp_path / "server"))
        assert runner.resumed
    runner.run()  # at the end of the input: the flush and the last checkpoint
    assert dump(Store.open(tmp_path / "server")) == expected


def test_the_servers_requests_of_a_failed_commit_get_its_error_and_nothing_is_lost(
    events_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's pipeline writes its group commits in the background: the requests
    of a commit that fails get its error, the writer goes on, and a retry of them is
    answered (as duplicates: the engine had them) once the next commit, which holds
    them, has landed. The store then holds the same cells as without the failure, and
    a resume counts every record once."""
    from conftest import RATES_DOC
    from warroom.api.pipeline import Pipeline
    from warroom.engine.engine import SECOND
    from warroom.runner import Runner, RunOptions
    from warroom.sources import files

    (tmp_path / "rates.json").write_text(json.dumps(RATES_DOC))
    chunks = [c.data for c in files.ndjson_chunks(str(events_file), batch_bytes=1 << 21)]
    commit = Store.commit

    def serve(data: Path, fail_at: int | None) -> tuple[RunOptions, list[object]]:
        """Post every chunk, one at a time, retrying a failed one; what each got."""
        calls: list[object] = []

        def flaky(store: Store, cp: object) -> None:
            calls.append(cp)
            if len(calls) == fail_at:
                raise OSError("database is locked")
            commit(store, cp)  # type: ignore[arg-type]

        monkeypatch.setattr(Store, "commit", flaky)
        opts = RunOptions(events="-", data_dir=data, rates=tmp_path / "rates.json")
        pipeline = Pipeline(Runner(opts), checkpoint_seconds=0.05, group_commit_seconds=0.0)
        pipeline.start()
        answers: list[object] = []
        try:
            for body in chunks:
                assert body is not None
                try:
                    answers.append(pipeline.submit(body).result(timeout=60))
                except OSError as exc:
                    answers.extend([exc, pipeline.submit(body).result(timeout=60)])
        finally:
            pipeline.stop()
            monkeypatch.setattr(Store, "commit", commit)
        return opts, answers

    clean_opts, clean = serve(tmp_path / "clean", None)
    opts, answers = serve(tmp_path / "server", 2)
    failed = [i for i, a in enumerate(answers) if isinstance(a, OSError)]
    assert len(failed) == 1 and len(answers) == len(clean) + 1
    first, retry = clean[failed[0]], answers[failed[0] + 1]
    assert retry.accepted == 0 and retry.duplicates == first.accepted + first.duplicates
    keys = ["win", "gset", "k1", "k2"]
    expected = Store.open(clean_opts.data_dir).cells(SECOND).sort(keys)
    assert expected.height > 0
    assert Store.open(opts.data_dir).cells(SECOND).sort(keys).equals(expected)
    want, got = Runner(clean_opts).engine.counters, Runner(opts).engine.counters
    assert got.read == want.read + retry.records  # the retry read again, counted once
    assert (got.accepted, got.duplicates) == (want.accepted, want.duplicates + retry.duplicates)
