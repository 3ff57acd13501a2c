"""What reads the stream besides the engine (the watch, the guards) checkpoints with it.

A participant gives its state as bytes at each checkpoint; the runner writes it in the
engine's transaction and hands it back on resume, so after `kill -9` the watch and
the guards continue from the same record as the engine: nothing decided twice, nothing
skipped. A `CheckpointedFile` does the same for an output file: its length is part of
the checkpoint, and a resumed run cuts the file back to it before appending, so the
file ends byte-equal to a clean run's.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import IO, Any, Protocol


class TextSink(Protocol):
    def write(self, text: str, /) -> Any: ...

    def flush(self) -> None: ...


class Participant(Protocol):
    def checkpoint_state(self) -> bytes: ...

    def restore_state(self, state: bytes) -> None: ...

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

    def restore_state(self, state: bytes) -> None:
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

    def restore_state(self, state: bytes) -> None:
        saved = pickle.loads(state)
        vars(self.obj).update(saved["attrs"])
        if self.out is not None and saved["file"] is not None:
            self.out.restore_state(saved["file"])
