"""The README's quick start runs as written and gives the values its comments state."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_quick_start_runs_and_matches_its_comments() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python block"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    g, pv = namespace["g"], namespace["pv"]
    assert g.rollup(pv).to_pylist() == [25000, 12500, 2500, 7500]  # type: ignore[attr-defined]
    legs = g.leg_volumes(pv).to_pylist()  # type: ignore[attr-defined]
    assert (legs[0]["left"], legs[0]["right"]) == (12500, 2500)
    report = namespace["mlm_core"].validate_genealogy(namespace["members"])  # type: ignore[attr-defined]
    assert report.num_rows == 0
