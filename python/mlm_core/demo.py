"""The end-to-end demo: a legacy company is migrated into an embedded DuckDB file, three periods of the
example plan run and are posted to the e-wallets, the ledger is verified, the parallel run reconciles our
payouts with the legacy's and names its quirks, and the report is written.

The synthetic legacy (:func:`mlm_core.synth.legacy_company`) rounds half up where the plan rounds down, and
three of its lines per period were edited by hand: the parallel run must find exactly those.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from . import synth
from .legacy import Quirks
from .migrate.audit import audit
from .migrate.mapping import Mapping
from .migrate.run import Migration
from .parallel import ParallelRun
from .plan import Plan
from .report import write_report
from .report_html import money
from .runs import run_periods
from .store import Store

EXAMPLE_PLAN = Path(__file__).resolve().parent / "plans" / "example-plan.toml"
#: The legacy's quirks in the demo: half-up rounding and three hand-edited lines per period.
DEMO_QUIRKS = Quirks(rounding="half_up", wrong_lines=3, seed=7)
#: The steps the demo reports through ``step`` (for a progress bar).
DEMO_STEPS = 8


def run_demo(
    members: int = 100_000, *, db_path: str | Path = "data/demo.duckdb", seed: int = 42,
    plan_path: str | Path = EXAMPLE_PLAN, say: Callable[[str], None] = print,
    step: Callable[[str, Callable[[], Any]], Any] | None = None,
) -> dict[str, Any]:
    """Runs the demo from scratch (the database, its backups, exports and report are replaced) and returns
    its summary, also said line by line through ``say``. ``step(label, work)`` runs each step (the CLI
    shows a progress line); by default it times it and says the time."""
    def timed(label: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = work()
        say(f"  {label:<58} {time.perf_counter() - start:7.2f} s")
        return result

    run = step or timed
    db_path = Path(db_path)
    work_dir = db_path.parent / f"{db_path.stem}-files"
    for stale in (db_path, Path(f"{db_path}.wal"), Path(f"{db_path}.backups"), work_dir):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    plan = Plan.from_toml(plan_path)
    say(f"mlm_core demo: a legacy company of {members:,} members (seed {seed}) -> {db_path}")
    company = run(f"synthesise the legacy company and its exports ({members:,} members)",
                  lambda: synth.legacy_company(work_dir / "legacy-export", members, plan=plan, seed=seed,
                                               quirks=DEMO_QUIRKS))
    with Store(db_path) as store:
        batches = run("migrate the exports (cleanse, genealogy gate, batches)",
                      lambda: Migration(store, Mapping.from_toml(company.mapping)).run())
        checks = run("audit the migration against the exports", lambda: audit(store))
        results = run(f"run and post {len(company.parallel)} periods of {plan.name}",
                      lambda: run_periods(store, plan, periods=company.parallel, run_id="demo", post=True,
                                          created_at=1_764_547_200_000_000, clawbacks="allow_negative"))
        verified = run("verify the e-wallet ledger (every leaf, chain and root)", store.verify_ledger)
        parallel = run("parallel run: reconcile with the legacy's payouts", lambda: ParallelRun.from_store(store, plan))
        diagnosis = run("diagnose the differences (re-run with candidate plan changes)", parallel.diagnose)
        parallel.to_store(store, run_id="demo-parallel", diagnosis=diagnosis)
        written = run("write the report (HTML, CSV, Parquet)",
                      lambda: write_report(store, work_dir / "report", currency=plan.currency))
    rec = parallel.reconciliation
    seeded = company.seeded.filter(pc.is_in(company.seeded.column("period"), value_set=pc.unique(
        rec.periods.column("period"))))
    isolated = {(r["period"], r["member_id"], r["bonus"]) for r in diagnosis.isolated.to_pylist()}
    found = isolated == {(r["period"], r["member_id"], r["bonus"]) for r in seeded.to_pylist()}
    quarantined = sum(b.rows_quarantined for b in batches)
    paid = {r.period: r.summary.filter(pc.equal(r.summary.column("bonus"), "total")).column("paid")[0].as_py()
            for r in results}
    summary: dict[str, Any] = {
        "members": members, "database": str(db_path), "report": str(written["report.html"]),
        "rows_migrated": sum(b.rows_accepted for b in batches), "rows_quarantined": quarantined,
        "audit_ok": all(checks.column("ok").to_pylist()), "ledger_ok": verified.ok,
        "paid": paid,
        "go_live": rec.go_live, "differing": rec.differences().num_rows, "diagnosis": diagnosis.summary(),
        "seeded_errors_found": found,
    }
    say(f"migrated {summary['rows_migrated']:,} rows, {quarantined:,} quarantined; audit "
        f"{'passes' if summary['audit_ok'] else 'FAILS'}")
    for period, amount in paid.items():
        say(f"period {period}: paid {money(amount, plan.currency)} {plan.currency}, posted to the wallets")
    say(f"ledger: {'verifies' if verified.ok else 'DOES NOT VERIFY'} (root {verified.root.hex()[:16]}…)")
    say(f"parallel run: {'GO-LIVE' if rec.go_live else 'not ready'}, {summary['differing']:,} differing pair(s) "
        f"in {len(company.parallel)} periods")
    for line in diagnosis.summary():
        say(f"  {line}")
    say(f"  the legacy's seeded errors ({seeded.num_rows}) are {'exactly' if found else 'NOT'} the isolated "
        f"differences")
    say(f"report: {written['report.html']} (tables as CSV and Parquet beside it)")
    return summary
