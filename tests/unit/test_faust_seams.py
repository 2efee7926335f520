"""The code that reaches into Faust's internals runs on the release it was written against."""

from __future__ import annotations

import faust

from app.lean import FAUST_VERSION


def test_the_installed_faust_is_the_release_the_seams_were_written_against() -> None:
    assert faust.__version__ == FAUST_VERSION, (
        f"faust-streaming {faust.__version__} is installed, the overrides of its internals "
        f"were written against {FAUST_VERSION}: read app/lean.py, app/take.py, "
        "app/recovery.py, app/delivery.py, tables/io.py and tables/state.py against the new "
        "release, then update FAUST_VERSION")
