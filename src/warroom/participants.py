"""What reads the stream besides the engine (the watch, the guards) checkpoints with it.

A participant gives its state as bytes at each checkpoint; the runner writes it in the
engine's transaction and hands it back on resume, so after `kill -9` the watch and
the guards continue from the same record as the engine: nothing decided twice, nothing
skipped. A `CheckpointedFile` does the same for an output file: its length is part of
the checkpoint, and a resumed run cuts the file back to it before appending, so the
file ends byte-equal to a clean run's.

A participant whose state grows all day (a guard's book of buyers and orders) gives a
`Delta` instead, what changed since its previous checkpoint, which the store appends to
its journal; it gives its whole state again once the journal outgrows the last whole
state several times over, so a checkpoint costs about what changed and a resume reads
a bounded multiple of the state.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol


class TextSink(Protocol):
    def write(self, text: str, /) -> Any: ...

    def flush(self) -> None: ...


@dataclass(frozen=True)
class Delta:
    """A participant's changes since its previous checkpoint, appended to its journal."""

    data: bytes


class Participant(Protocol):
    def checkpoint_state(self) -> bytes | Delta: ...

    # `deltas`: the journal written after `state`, in order (empty unless it gives Deltas)
    def restore_state(self, state: bytes, deltas: list[bytes]) -> None: ...

    def start_fresh(self) -> None: ...  # no checkpoint holds its state: begin empty


class CheckpointedFile:
    """A text file written by a replay, cut back to its checkpointed length on resume."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # appended to until the runner says whether it resumes (cut back) or not (emptied)
        self.fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the run

    def write(self, text: str) -> None:
        self.fh.write(text)

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()

    def checkpoint_state(self) -> bytes:
        self.fh.flush()
        os.fsync(self.fh.fileno())  # on disk before the checkpoint that counts it commits
        return str(self.fh.tell()).encode()

    def restore_state(self, state: bytes, deltas: list[bytes] | None = None) -> None:
        self._cut(int(state))  # the bytes past the checkpoint are written again

    def start_fresh(self) -> None:
        self._cut(0)

    def _cut(self, length: int) -> None:
        self.fh.close()
        with open(self.path, "r+b") as raw:
            raw.truncate(length)
        self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115


class Pickled:
    """A participant made of an object's pickled attributes (minus what cannot travel,
    such as open files and callbacks) and, optionally, its output file."""

    def __init__(self, obj: Any, skip: tuple[str, ...] = (), out: CheckpointedFile | None = None):
        self.obj, self.skip, self.out = obj, skip, out

    def checkpoint_state(self) -> bytes:
        attrs = {k: v for k, v in vars(self.obj).items() if k not in self.skip}
        file_state = self.out.checkpoint_state() if self.out is not None else None
        return pickle.dumps({"attrs": attrs, "file": file_state}, protocol=5)

    def start_fresh(self) -> None:
        if self.out is not None:
            self.out.start_fresh()

    def restore_state(self, state: bytes, deltas: list[bytes] | None = None) -> None:
        saved = pickle.loads(state)
        vars(self.obj).update(saved["attrs"])
        if self.out is not None and saved["file"] is not None:
            self.out.restore_state(saved["file"])


# The whole state is written again once the journal since it is this many times its size:
# when nearly every change is new state (a day of new orders), a lower factor pickles the
# growing whole too often; a resume reads at most (1 + factor) times the state.
JOURNAL_FACTOR = 3


class Journaled:
    """A participant that checkpoints what changed. `changes()` gives (and forgets) the
    changes since it was last asked; `everything()` gives the whole state in the same
    form; `apply(changes)` folds either into the state, which starts empty."""

    def __init__(
        self,
        changes: Callable[[], Any],
        everything: Callable[[], Any],
        apply: Callable[[Any], None],
        out: CheckpointedFile | None = None,
    ) -> None:
        self.changes, self.everything, self.apply, self.out = changes, everything, apply, out
        self._whole_bytes = 0  # size of the last whole state
        self._journal_bytes = 0  # deltas written since
        # A state handed out but not yet known committed: if its checkpoint failed, the
        # changes in it are forgotten here but not on disk, so the next is whole.
        self._unconfirmed = False

    def committed(self) -> None:
        """The runner's checkpoint holding the last state given has committed."""
        self._unconfirmed = False

    def checkpoint_state(self) -> bytes | Delta:
        changes = self.changes()  # forgets them, whole state or not
        file_state = self.out.checkpoint_state() if self.out is not None else None
        whole_due = self._journal_bytes > JOURNAL_FACTOR * self._whole_bytes
        lost = self._unconfirmed
        self._unconfirmed = True
        if self._whole_bytes == 0 or whole_due or lost:
            whole = pickle.dumps({"changes": self.everything(), "file": file_state}, protocol=5)
            self._whole_bytes, self._journal_bytes = len(whole), 0
            return whole
        delta = pickle.dumps({"changes": changes, "file": file_state}, protocol=5)
        self._journal_bytes += len(delta)
        return Delta(delta)

    def restore_state(self, state: bytes, deltas: list[bytes] | None = None) -> None:
        file_state = None
        for raw in [state, *(deltas or [])]:
            saved = pickle.loads(raw)
            self.apply(saved["changes"])
            file_state = saved["file"]
        self._whole_bytes, self._journal_bytes = len(state), sum(map(len, deltas or []))
        if self.out is not None and file_state is not None:
            self.out.restore_state(file_state)
        self.changes()  # what the restore itself changed is already on disk

    def start_fresh(self) -> None:
        if self.out is not None:
            self.out.start_fresh()
        self.changes()
