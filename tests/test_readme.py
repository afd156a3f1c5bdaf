"""The README's quick start runs as written and gives the values its comments state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_quick_start_runs_and_matches_its_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2, "README lacks its python blocks"
    monkeypatch.chdir(README.parent)  # the README's paths are relative to the checkout
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    g, pv = namespace["g"], namespace["pv"]
    assert g.rollup(pv).to_pylist() == [25000, 12500, 2500, 7500]  # type: ignore[attr-defined]
    legs = g.leg_volumes(pv).to_pylist()  # type: ignore[attr-defined]
    assert (legs[0]["left"], legs[0]["right"]) == (12500, 2500)
    report = namespace["mlm_core"].validate_genealogy(namespace["members"])  # type: ignore[attr-defined]
    assert report.num_rows == 0
    result = namespace["result"]
    # A is Bronze (PV 10000, group PV 38000 >= 30000) and paid 2 levels: 5% of B's 10000 + 3% of D's net
    # 18000 = 1040. B (group PV 28000) is Member, paid 1 level: 5% of D's 18000 = 900.
    lines = [(x["member_id"], x["bonus"], x["amount"]) for x in result.lines.to_pylist()]  # type: ignore[attr-defined]
    assert lines == [("A", "unilevel", 1040), ("B", "unilevel", 900)]
    # Version 2: B's package pays A the sponsor award and (A is a Director) the whole match award, and B
    # its 5% cashback; A's right leg has no pair volume, so no pairing.
    result2 = namespace["result2"]
    lines2 = [(x["member_id"], x["bonus"], x["amount"]) for x in result2.lines.to_pylist()]  # type: ignore[attr-defined]
    assert lines2 == [("A", "sponsor", 50000), ("A", "match", 80000), ("B", "cashback", 17500)]
    # The live period: B's order less its return and E's order after E joins, applied once, is run_period
    # over the net volumes on the genealogy with E.
    assert namespace["seq"] == 5
    pa_, mlm = namespace["pa"], namespace["mlm_core"]
    grown = mlm.Genealogy.from_arrow(pa_.concat_tables([namespace["members"], pa_.table({  # type: ignore[attr-defined]
        "member_id": ["E"], "sponsor_id": ["B"], "placement_id": ["B"], "leg": ["R"], "status": ["active"]})]))
    net = pa_.table({"member_id": ["B", "E", "A"], "pv": [8000, 5000, 10000],  # type: ignore[attr-defined]
                     "bv": [8000, 5000, 10000]})
    live = namespace["exact"]
    expected = mlm.run_period(namespace["plan"], grown, net, period="2026-11")  # type: ignore[attr-defined]
    figures = namespace["figures"]
    assert figures["lines"] == {"unilevel": 650} and figures["as_of"] == 5  # type: ignore[index]
    assert figures["group_pv"] == 23000  # type: ignore[index]
    assert figures["next_rank"] == {"rank": "Bronze", "status": False, "pv": 0, "group_pv": 7000, "legs": 0}  # type: ignore[index]
    assert live.lines.equals(expected.lines) and live.ranks.equals(expected.ranks)
    # The wallet block: A's 1040 less a 500 withdrawal, B's 900; the stored ledger verifies.
    balances = {(x["wallet_id"], x["balance_minor"]) for x in namespace["balances"].to_pylist()}  # type: ignore[attr-defined]
    assert balances == {("A", 540), ("B", 900)}
    assert namespace["audit"].ok  # type: ignore[attr-defined]
    # The migration block: the 1,000-member export loads whole (a rerun resumes the same batch).
    loaded = namespace["loaded"]
    assert (loaded.rows_read, loaded.rows_accepted, loaded.rows_quarantined) == (1000, 1000, 0)  # type: ignore[attr-defined]
    assert all(namespace["checks"].column("ok").to_pylist())  # type: ignore[attr-defined]
    # The store's parallel run: the gate is closed, the diagnosis names the rounding and isolates exactly the
    # six seeded lines, and the drill-down has rows.
    assert namespace["gate"] is False
    summary = namespace["diagnosis"].summary()  # type: ignore[attr-defined]
    assert summary[0].startswith("likely cause: rounding = 'half_up'")
    assert summary[1].startswith("6 isolated difference(s)")
    assert namespace["shares"].num_rows > 0  # type: ignore[attr-defined]
    # The run block: three periods recorded and posted, the ledger verifies, the report is written.
    assert [r.period for r in namespace["results"]] == ["2026-09", "2026-10", "2026-11"]  # type: ignore[attr-defined]
    assert namespace["verified"].ok  # type: ignore[attr-defined]
    assert namespace["written"]["report.html"].exists()  # type: ignore[index]
