"""The report: its tables against independent queries of the store, and the HTML page rendered by a real
headless Chromium (Debian's ``chromium``): it renders, its charts are there, its numbers are the store's."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mlm_core import Store
from mlm_core.demo import DEMO_STEPS, run_demo
from mlm_core.report import report_tables


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("report") / "demo.duckdb"
    labels: list[str] = []

    def step(label: str, work: Any) -> Any:
        labels.append(label)
        return work()

    summary = run_demo(2500, db_path=db, say=lambda _: None, step=step)
    assert len(labels) == DEMO_STEPS  # the CLI's progress bar counts on it
    return summary


def test_report_tables_equal_the_store(demo: dict[str, Any]) -> None:
    with Store(demo["database"]) as store:
        t = report_tables(store)
    con = duckdb.connect(demo["database"], read_only=True)
    try:
        lines = dict(con.sql("SELECT period || '/' || bonus, sum(amount) FROM commission_lines GROUP BY 1").fetchall())
        payouts = {f'{r["period"]}/{r["bonus"]}': r["paid"] for r in t["payouts"].to_pylist() if r["bonus"] != "total"}
        assert payouts == lines
        assert sum(r["total"] for r in t["statement_totals"].to_pylist()) == sum(lines.values())
        members = con.sql("SELECT count(*) FROM members").fetchall()[0][0]
        for period in {r["period"] for r in t["rank_distribution"].to_pylist()}:
            assert sum(r["members"] for r in t["rank_distribution"].to_pylist() if r["period"] == period) == members
        for tree in ("sponsor", "placement"):
            assert sum(r["members"] for r in t["genealogy_levels"].to_pylist() if r["tree"] == tree) == members
        with_both = sum(r["members"] for r in t["leg_balance"].to_pylist() if r["bucket"] != "one leg only")
        assert with_both <= members
        ledger = t["ledger_verification"].to_pylist()[0]
        stored = con.sql("SELECT count(*) FROM wallet_transactions").fetchall()[0][0]
        assert ledger["ok"] and ledger["transactions"] == stored
        assert t["reconciliation_differences"].num_rows == demo["differing"]
        assert all(t["migration_audit"].column("ok").to_pylist())
        # Advancement: every member counted moved to a higher rank than the one recorded before.
        order = ["Member", "Bronze", "Silver", "Gold"]
        for r in t["rank_advancement"].to_pylist():
            assert r["from_rank"] != r["to_rank"] and order.index(r["to_rank"]) > order.index(r["from_rank"])
    finally:
        con.close()


class _Dom(HTMLParser):
    """Collects every element with an id, every data-value per table id, and the chart bars."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tables: dict[str, list[list[tuple[str | None, str]]]] = {}
        self.bars: list[dict[str, str | None]] = []
        self.svgs = 0
        self._table: str | None = None
        self._row: list[tuple[str | None, str]] | None = None
        self._cell: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "svg":
            self.svgs += 1
        if tag == "rect" and a.get("class") == "bar":
            self.bars.append(a)
        if tag == "table":
            self._table = a.get("id")
            self.tables.setdefault(self._table or "", [])
        if tag == "tr" and self._table is not None:
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell, self._text = a.get("data-value"), ""

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None:
            self._row.append((self._cell, self._text))
        if tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it where apt-get may run)")
    return found


def _png_is_drawn(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct bytes in the first rows): a blank page has one colour."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        if data[at + 4:at + 8] == b"IDAT":
            chunks.append(data[at + 8:at + 8 + length])
        at += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return width, height, len(set(pixels[: width * 4 * 400]))


def test_html_report_in_headless_chromium(demo: dict[str, Any], tmp_path: Path) -> None:
    browser = _chromium()
    page = Path(demo["report"])
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    parsed = _Dom()
    parsed.feed(dom)
    # Every section and chart is in the rendered document.
    for ident in ("payouts", "statements", "ranks", "genealogy", "data-quality", "ledger", "reconciliation",
                  "payout-chart", "rank-chart", "sponsor-levels", "placement-levels", "leg-balance",
                  "reconciliation-chart", "go-live", "ledger-verdict", "diagnosis"):
        assert ident in parsed.ids, ident
    assert parsed.svgs >= 6 and len(parsed.bars) > 20
    # Its numbers are the store's.
    con = duckdb.connect(demo["database"], read_only=True)
    try:
        paid = {f"{p} {b}": v for p, b, v in con.sql(
            "SELECT period, bonus, paid FROM period_summaries WHERE bonus <> 'total'").fetchall()}
        bars = {str(b["data-group"]): int(str(b["data-value"])) for b in parsed.bars
                if b.get("data-series") == "paid"}
        assert bars == paid
        rows = parsed.tables["payouts"][1:]
        cells = {(r[0][1], r[1][1]): int(str(r[2][0])) for r in rows}
        assert cells == {tuple(k.split(" ")): v for k, v in paid.items()} | {
            (p, "total"): v for p, v in con.sql("SELECT period, sum(paid) FROM period_summaries "
                                                "WHERE bonus <> 'total' GROUP BY 1").fetchall()}
        periods = con.sql("SELECT period, legacy_total, our_total FROM reconciliation_periods ORDER BY 1").fetchall()
        shown = [(r[0][1], int(str(r[4][0])), int(str(r[5][0]))) for r in parsed.tables["reconciliation-periods"][1:]]
        assert shown == periods
    finally:
        con.close()
    assert 'data-go-live="false"' in dom and 'data-ok="true"' in dom
    # It renders: a screenshot is a real picture, not a blank page.
    shot = tmp_path / "report.png"
    subprocess.run([*flags, "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=120, check=True)
    width, height, colours = _png_is_drawn(shot)
    assert (width, height) == (1280, 2000) and colours > 8
