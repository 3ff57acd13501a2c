"""The collector around a long-running command: held for its imports, then tuned."""

from __future__ import annotations

import gc

from warroom.gctune import THRESHOLDS, hold_for_imports, tune_for_streaming


def test_held_for_the_imports_then_on_with_the_streaming_thresholds() -> None:
    before, was_enabled = gc.get_threshold(), gc.isenabled()
    try:
        hold_for_imports()
        assert not gc.isenabled()
        tune_for_streaming()
        assert gc.isenabled()
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.set_threshold(*before)
        if was_enabled:
            gc.enable()
