"""The migration pipeline end to end on a hand-checked legacy company (tests/legacy_company.py)."""

from __future__ import annotations

import json
from pathlib import Path

import legacy_company as company
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mlm_core
from mlm_core import KeyRing, Mapping, Migration, Store, audit
from mlm_core.errors import MappingError, MigrationError
from mlm_core.pii import read_kyc, read_quarantined_raw

KEYS = KeyRing({"k1": bytes(range(32))}, "k1")


def migrate(folder: Path, **options: object) -> tuple[Store, list[mlm_core.migrate.run.BatchResult]]:
    mapping = Mapping.from_toml(company.write(folder, **options))  # type: ignore[arg-type]
    store = Store(folder / "company.duckdb")
    return store, Migration(store, mapping, keys=KEYS).run()


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store, _ = migrate(tmp_path_factory.mktemp("company"))
    yield store
    store.close()


def reasons(store: Store, table: str) -> dict[int, str]:
    return {r: reason for r, reason in store._rows(
        "SELECT record, reason FROM quarantine WHERE table_name = ? ORDER BY record", [table])}


@pytest.mark.parametrize(("table", "expected"), [
    ("members", company.EXPECTED_MEMBERS), ("orders", company.EXPECTED_ORDERS),
    ("wallet_transactions", company.EXPECTED_WALLET), ("commission_history", company.EXPECTED_COMMISSIONS),
    ("carry_forward", company.EXPECTED_CARRY), ("rank_history", company.EXPECTED_RANKS)])
def test_every_record_is_accepted_or_quarantined_with_its_reason(migrated: Store, table: str,
                                                                  expected: dict[int, str | None]) -> None:
    assert reasons(migrated, table) == {r: why for r, why in expected.items() if why is not None}
    read, accepted, quarantined = migrated._rows(
        "SELECT rows_read, rows_accepted, rows_quarantined FROM migration_batches WHERE table_name = ?", [table])[0]
    assert read == len(expected)
    assert accepted == sum(1 for why in expected.values() if why is None)
    assert read == accepted + quarantined


def test_members_are_cleansed(migrated: Store) -> None:
    rows = migrated._rows("SELECT member_id, sponsor_id, placement_id, leg, status, joined_at, country "
                          "FROM members ORDER BY member_id")
    assert rows == [
        ("HOUSE", None, None, None, "active", 1577854800000000, "US"),   # 2020-01-01 00:00 New York = 05:00Z
        ("José", "M2", "M2", "R", "active", 1705240800000000, "ES"),     # NFD in the export, NFC stored
        ("M1", "HOUSE", "HOUSE", "L", "active", 1704204000000000, "US"),
        ("M2", "HOUSE", "HOUSE", "R", "inactive", 1704290400000000, "GB"),
    ]
    assert read_kyc(migrated, "M2", KEYS) == {"email": "two@example.com", "name": "Bo Two",
                                              "phone": "+442079460958"}
    assert read_kyc(migrated, "M1", KEYS)["phone"] == "+12125550101"


def test_orders_are_exact_minor_units_and_utc_microseconds(migrated: Store) -> None:
    rows = migrated._rows("SELECT order_id, member_id, pv, bv, amount, currency, created_at FROM orders "
                          "ORDER BY order_id")
    assert rows == [
        ("O1", "M1", 10000, 8000, 12050, "USD", 1704448800000000),
        ("O10", "M1", 225, None, 350, "EUR", 1706742000250000),        # 00:00:00.250+01:00
        ("O3", "M2", 1000, 1000, 1200, "JPY", 1704448800000000),       # yen have no minor unit
        ("O5", "M2", 100, 100, 100, "USD", 1704466800000000),          # naive: the mapping's zone (EST)
    ]


def test_quarantine_keeps_line_raw_row_and_a_specific_detail(migrated: Store) -> None:
    line, member, detail, raw = migrated._rows(
        "SELECT line, member_id, detail, raw FROM quarantine WHERE table_name = 'orders' AND record = 2")[0]
    assert (line, member) == (3, "M1")
    assert detail == "amount has more decimals than its unit allows (Amount='60.123')"
    assert json.loads(raw)["Amount"] == "60.123"
    batch, detail, raw = migrated._rows(
        "SELECT batch_id, detail, raw FROM quarantine WHERE table_name = 'members' AND record = 19")[0]
    # The members export holds personal data: a line that could not be parsed is kept sealed, whole.
    assert detail == "expected 10 fields, found 11" and raw.startswith("<sealed")
    assert read_quarantined_raw(migrated, batch, 19, KEYS) == 'X2,M2,M2,1,A,2024-01-15 09:00:00,x2@example.com,US,' \
                                                           '"Ragged",1,extra'
    detail, raw = migrated._rows("SELECT detail, raw FROM quarantine WHERE table_name = 'members' AND record = 4")[0]
    assert detail == "email is not a valid e-mail address (Email, value withheld: personal data)"
    assert json.loads(raw) == {"MemberID": "M3", "SponsorID": "M1", "PlacementID": "M1", "Leg": "1", "Status": "A",
                               "JoinDate": "2024-01-04 09:00:00", "Email": "<sealed>", "Country": "US",
                               "Name": "<sealed>", "Phone": None}
    assert "not-an-email" in read_quarantined_raw(migrated, batch, 4, KEYS)
    cascade = migrated._rows("SELECT record, detail FROM quarantine WHERE reason = 'orphan_cascade' ORDER BY record")
    assert cascade[0] == (5, "its sponsor parent 'M3' is quarantined (bad_email)")
    assert [r for r, _ in cascade] == [5, 7, 8, 11, 22, 23]


def test_history_tables_keep_exact_amounts(migrated: Store) -> None:
    # European number format in the commission export: "1.234,50" is 1234.50.
    assert migrated._rows("SELECT period, member_id, bonus, amount FROM commission_history ORDER BY 2, 3") == [
        ("2023-12", "M1", "binary", 123450), ("2023-12", "M2", "binary", 1000), ("2023-12", "M2", "unilevel", 50)]
    assert migrated._rows("SELECT member_id, left_carry, right_carry FROM carry_forward ORDER BY 1") == [
        ("M1", 15025, 0), ("M2", 0, 9950)]
    assert migrated._rows("SELECT member_id, period, achieved_rank, paid_as_rank FROM rank_history ORDER BY 1, 2") == [
        ("M1", "2023-11", "Silver", "Silver"), ("M1", "2023-12", "Gold", "Silver"), ("M2", "2023-12", "Bronze", None)]
    totals = {name: json.loads(d)["totals"] for name, d in migrated._rows(
        "SELECT table_name, source_digest FROM migration_batches")}
    assert totals["carry_forward"] == [["binary", "15025", "9950"]]
    assert totals["rank_history"] == [["Bronze", None, 1], ["Gold", "Silver", 1], ["Silver", "Silver", 1]]


def test_ledger_is_sealed_in_spec_order_and_verifies(migrated: Store) -> None:
    rows = migrated._rows("SELECT tx_id, wallet_id, amount, seq FROM wallet_transactions ORDER BY posted_order")
    assert rows == [("W4", "M2", 10, 1), ("W1", "M1", 150000, 1), ("W3", "M2", 1250, 2), ("W2", "M1", -50000, 2)]
    assert migrated.verify_ledger().ok
    assert migrated.balances().to_pylist() == [
        {"wallet_id": "M1", "currency": "USD", "balance_minor": 100000},
        {"wallet_id": "M2", "currency": "USD", "balance_minor": 1260}]


def test_audit_passes_and_catches_an_edit(tmp_path: Path) -> None:
    store, _ = migrate(tmp_path)
    with store:
        report = audit(store)
        assert report.num_rows > 10 and all(report.column("ok").to_pylist())
        checks = set(report.column("check").to_pylist())
        assert {"checksum", "control totals", "ledger batch root (migrated leaves)",
                "sponsor tree level histogram", "rows read = migrated + quarantined"} <= checks
        store._db.execute("UPDATE orders SET pv = pv + 1 WHERE order_id = 'O1'")
        bad = audit(store).filter(pa.compute.invert(audit(store).column("ok")))
        assert sorted(bad.column("check").to_pylist()) == ["checksum", "control totals"]


def test_attach_policy_records_every_attachment(tmp_path: Path) -> None:
    store, _ = migrate(tmp_path, orphans="attach", house="HOUSE")
    with store:
        attached = store._rows("SELECT member_id, tree, legacy_parent, attached_to, leg, reason "
                               "FROM orphan_attachments ORDER BY member_id, tree")
        # M4's parent M3 was quarantined (bad e-mail), M5's parent M9 never existed; C2 lost its cycle
        # partner C1. Their downlines (M6, M7) stay under them.
        assert [(m, t, p, reason) for m, t, p, _, _, reason in attached] == [
            ("C2", "placement", "C1", "parent_quarantined"), ("C2", "sponsor", "C1", "parent_quarantined"),
            ("M4", "placement", "M3", "parent_quarantined"), ("M4", "sponsor", "M3", "parent_quarantined"),
            ("M5", "placement", "M9", "parent_missing"), ("M5", "sponsor", "M9", "parent_missing"),
            ("T2", "placement", "T1", "parent_quarantined"), ("T2", "sponsor", "T1", "parent_quarantined")]
        placed = [(m, to, leg) for m, t, _, to, leg, _ in attached if t == "placement"]
        # One after another at the bottom of the house's outer left leg. First round: M4 under M1 (the bottom,
        # M3 being quarantined), M5 under M4; M5 brings M6 and M7 along on its left. Second round, once C1 and
        # T1 are quarantined for their cycles: C2 under the new bottom M7, then T2 (with T3) under C2.
        assert placed == [("C2", "M7", "L"), ("M4", "M1", "L"), ("M5", "M4", "L"), ("T2", "C2", "L")]
        members = store._table("SELECT member_id, sponsor_id, placement_id, leg FROM members")
        assert mlm_core.validate_genealogy(members).filter(
            pa.compute.equal(mlm_core.validate_genealogy(members).column("severity"), "error")).num_rows == 0
        assert {"M6", "M7"} <= set(members.column("member_id").to_pylist())
        assert all(audit(store).column("ok").to_pylist())


def test_a_second_run_resumes_and_changes_nothing(tmp_path: Path) -> None:
    store, first = migrate(tmp_path)
    with store:
        before = snapshot(store)
        again = Migration(store, Mapping.from_toml(tmp_path / "mapping.toml"), keys=KEYS).run()
        assert [b.resumed for b in again] == [True] * 6
        assert [b.batch_id for b in again] == [b.batch_id for b in first]
        assert snapshot(store) == before


def snapshot(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every migrated table's rows, without wall-clock columns and backup paths."""
    out = {}
    for table, order in [("members", "member_id"), ("orders", "order_id"), ("quarantine", "batch_id, record"),
                         ("orphan_attachments", "member_id, tree"), ("commission_history", "1, 2, 3"),
                         ("carry_forward", "1, 2, 3"), ("rank_history", "1, 2"),
                         ("wallet_transactions", "posted_order"), ("ledger_checkpoints", "batch_id")]:
        # Wall-clock times, paths and ciphertexts (fresh nonces) differ between two equal runs.
        drop = {"created_at", "source_file", "raw_sealed"} if table in ("ledger_checkpoints", "quarantine") else set()
        cols = [c for (c,) in store._rows(f"SELECT column_name FROM information_schema.columns "
                                           f"WHERE table_name = '{table}' ORDER BY ordinal_position") if c not in drop]
        out[table] = store._rows(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
    out["kyc"] = store._rows("SELECT member_id, field, key_id, batch_id FROM kyc ORDER BY 1, 2")
    out["batches"] = store._rows("SELECT batch_id, table_name, part, rows_read, rows_accepted, rows_quarantined, "
                                 "CAST(accepted_checksum AS VARCHAR), source_digest FROM migration_batches ORDER BY 1")
    return out


def test_batches_of_rows_roll_back_and_redo(tmp_path: Path) -> None:
    store, results = migrate(tmp_path, batch_rows=5)
    with store:
        orders = [b for b in results if b.table == "orders"]
        assert [(b.part, b.rows_read) for b in orders] == [(0, 5), (1, 5), (2, 2)]
        assert sum(b.rows_accepted + b.rows_quarantined for b in orders) == 12
        full = snapshot(store)
        undone = mlm_core.rollback(store, orders[1].batch_id)
        assert undone == list(range(orders[1].batch_id, results[-1].batch_id + 1))
        assert store._rows("SELECT count(*) FROM orders")[0][0] == orders[0].rows_accepted
        assert store._rows("SELECT count(*) FROM wallet_transactions")[0][0] == 0
        events = [e for (e,) in store._rows("SELECT event FROM migration_log ORDER BY logged_at")]
        assert events == ["run_started", "run_finished", "rollback"]  # the log survives the restore
        redone = Migration(store, Mapping.from_toml(tmp_path / "mapping.toml"), keys=KEYS).run()
        assert [b.resumed for b in redone] == [True, True] + [False] * (len(results) - 2)
        assert snapshot(store) == full
        with pytest.raises(MigrationError, match="batch 99 is not in this store"):
            mlm_core.rollback(store, 99)


def test_parquet_and_json_sources(tmp_path: Path) -> None:
    import decimal
    folder = tmp_path
    company.write(folder)
    pq.write_table(pa.table({
        "OrderID": ["P1", "P2"], "MemberID": ["M1", "M2"], "Period": ["2024-02", "2024-02"],
        "PV": pa.array([decimal.Decimal("12.50"), decimal.Decimal("0.01")], pa.decimal128(10, 2)),
        "BV": pa.array([1, 2], pa.int64()), "Amount": ["1.00", "2.00"], "Currency": ["USD", "USD"],
        "Created": pa.array([0, 1_000_000], pa.timestamp("us", tz="UTC"))}), folder / "orders.parquet")
    text = (folder / "mapping.toml").read_text().replace('file = "orders.csv"', 'file = "orders.parquet"')
    (folder / "mapping.toml").write_text(text)
    store = Store(folder / "company.duckdb")
    with store:
        Migration(store, Mapping.from_toml(folder / "mapping.toml"), keys=KEYS).run()
        assert store._rows("SELECT order_id, pv, bv, amount, created_at FROM orders ORDER BY 1") == [
            ("P1", 1250, 100, 100, 0), ("P2", 1, 200, 200, 1_000_000)]


def test_float_money_in_parquet_is_refused(tmp_path: Path) -> None:
    company.write(tmp_path)
    pq.write_table(pa.table({"OrderID": ["P1"], "MemberID": ["M1"], "Period": ["2024-02"], "PV": [0.1],
                             "BV": [1], "Amount": ["1"], "Currency": ["USD"], "Created": ["2024-01-01T00:00:00Z"]}),
                   tmp_path / "orders.parquet")
    text = (tmp_path / "mapping.toml").read_text().replace('file = "orders.csv"', 'file = "orders.parquet"')
    (tmp_path / "mapping.toml").write_text(text)
    with Store(tmp_path / "company.duckdb") as store, pytest.raises(MigrationError, match=r"'PV'.*floating point"):
        Migration(store, Mapping.from_toml(tmp_path / "mapping.toml"), keys=KEYS).run()


@pytest.mark.parametrize(("content", "fragment"), [
    (b"", "empty"), (b"\xef\xbb\xbf\r\n", "empty"), (b"MemberID,MemberID\n", "twice")])
def test_unreadable_member_files_stop_before_writing(tmp_path: Path, content: bytes, fragment: str) -> None:
    company.write(tmp_path)
    (tmp_path / "members.csv").write_bytes(content)
    with Store(tmp_path / "company.duckdb") as store:
        with pytest.raises(MigrationError, match=fragment):
            Migration(store, Mapping.from_toml(tmp_path / "mapping.toml"), keys=KEYS).run()
        assert store._rows("SELECT count(*) FROM migration_batches")[0][0] == 0


def test_header_only_file_is_an_empty_batch(tmp_path: Path) -> None:
    company.write(tmp_path)
    (tmp_path / "orders.csv").write_text(company.ORDERS.splitlines()[0] + "\r\n")
    with Store(tmp_path / "company.duckdb") as store:
        results = Migration(store, Mapping.from_toml(tmp_path / "mapping.toml"), keys=KEYS).run()
        orders = next(b for b in results if b.table == "orders")
        assert (orders.rows_read, orders.rows_accepted, orders.rows_quarantined) == (0, 0, 0)


def test_kyc_needs_a_key(tmp_path: Path) -> None:
    with Store(tmp_path / "company.duckdb") as store, pytest.raises(MigrationError, match="keys="):
        Migration(store, Mapping.from_toml(company.write(tmp_path))).run()


@pytest.mark.parametrize(("patch", "key"), [
    (("[policy]", "[policy]\nfoo = 1"), "policy.foo"),
    (("[tables.orders]", "[tables.refunds]\nfile = 'x.csv'\n[tables.orders]"), "tables.refunds"),
    (('timezone = "America/New_York"', 'timezone = "Mars/Olympus"'), "defaults.timezone"),
    (('pv = "PV"', 'pv = "PV"\nvolume = "BV2"'), "tables.orders.columns.volume"),
    (('orphans = "quarantine"', 'orphans = "attach"'), "policy.house_account"),
])
def test_mapping_errors_name_their_key(tmp_path: Path, patch: tuple[str, str], key: str) -> None:
    path = company.write(tmp_path)
    path.write_text(path.read_text().replace(*patch, 1))
    with pytest.raises(MappingError) as info:
        Mapping.from_toml(path)
    assert info.value.key == key


def test_mapped_column_missing_from_the_export(tmp_path: Path) -> None:
    path = company.write(tmp_path)
    path.write_text(path.read_text().replace('pv = "PV"', 'pv = "PointValue"'))
    with Store(tmp_path / "company.duckdb") as store, pytest.raises(MigrationError, match="no column 'PointValue'"):
        Migration(store, Mapping.from_toml(path), keys=KEYS).run()


KILLED_CHILD = """
import sys
from mlm_core import KeyRing, Mapping, Migration, Store
store = Store(sys.argv[1])
Migration(store, Mapping.from_toml(sys.argv[2]), keys=KeyRing({"k1": bytes(range(32))}, "k1")).run()
"""


@pytest.mark.parametrize("batch", [1, 2, 3, 6])
def test_kill_9_mid_batch_resumes_to_the_uninterrupted_result(tmp_path: Path, batch: int) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    reference, _ = migrate(tmp_path / "reference")
    with reference:
        expected = snapshot(reference)
    folder = tmp_path / "killed"
    mapping = company.write(folder)
    marker = folder / "inside-batch"
    env = {**os.environ, "MLM_CORE_TEST_PAUSE_IN_BATCH": str(batch),
           "MLM_CORE_TEST_PAUSE_IN_BATCH_MARKER": str(marker)}
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(folder / "company.duckdb"), str(mapping)],
                             env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the child migration ended before reaching the batch"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)  # inside the batch's transaction, rows written, before COMMIT
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    with Store(folder / "company.duckdb") as store:
        assert store._rows("SELECT count(*) FROM migration_batches")[0][0] == batch - 1
        results = Migration(store, Mapping.from_toml(mapping), keys=KEYS).run()
        assert [r.resumed for r in results] == [k < batch for k in range(1, 7)]
        assert snapshot(store) == expected
        assert all(audit(store).column("ok").to_pylist())


def test_local_times_the_zone_repeats_or_skips_are_quarantined(tmp_path: Path) -> None:
    """New York, 2024: clocks skip 02:00-03:00 on 10 March and repeat 01:00-02:00 on 3 November."""
    company.write(tmp_path)
    orders = company.ORDERS.splitlines()[:2]
    for k, when in enumerate(["2024-03-10 02:30:00", "2024-11-03 01:30:00", "2024-11-03 02:30:00",
                              "2024-03-10T02:30:00-05:00"], start=20):
        orders.append(f"O{k},M1,2024-03,1,1,1,USD,{when}")
    (tmp_path / "orders.csv").write_text("\n".join(orders) + "\n")
    with Store(tmp_path / "company.duckdb") as store:
        Migration(store, Mapping.from_toml(tmp_path / "mapping.toml"), keys=KEYS).run()
        assert reasons(store, "orders") == {2: "ambiguous_local_time", 3: "ambiguous_local_time"}
        assert store._rows("SELECT order_id, created_at FROM orders ORDER BY 1") == [
            ("O1", 1704448800000000), ("O22", 1730619000000000), ("O23", 1710055800000000)]


def test_a_custom_timestamp_format(tmp_path: Path) -> None:
    path = company.write(tmp_path)
    path.write_text(path.read_text().replace('phone_country_code = "1"',
                                             'phone_country_code = "1"\ntimestamp_format = "%d/%m/%Y %H:%M"'))
    orders = [company.ORDERS.splitlines()[0], "O1,M1,2024-01,1,1,1,USD,05/01/2024 10:00",
              "O2,M1,2024-01,1,1,1,USD,2024-01-05T10:00:00Z"]
    (tmp_path / "orders.csv").write_text("\n".join(orders) + "\n")
    (tmp_path / "members.csv").write_text(company.MEMBERS.replace("2020-01-01 00:00:00", "01/01/2020 00:00")
                                          .replace("2024-01-02 09:00:00", "02/01/2024 09:00"))
    with Store(tmp_path / "company.duckdb") as store:
        Migration(store, Mapping.from_toml(path), keys=KEYS).run()
        assert store._rows("SELECT order_id, created_at FROM orders") == [("O1", 1704466800000000)]
        assert reasons(store, "orders") == {2: "bad_timestamp"}
        assert store._rows("SELECT member_id, joined_at FROM members ORDER BY 1") == [
            ("HOUSE", 1577854800000000), ("M1", 1704204000000000)]


def test_a_later_members_batch_is_checked_against_the_stored_genealogy_and_emails(tmp_path: Path) -> None:
    store, _ = migrate(tmp_path)
    with store:
        later = tmp_path / "later.csv"
        header = company.MEMBERS.splitlines()[0]
        later.write_text("\n".join([
            header,
            "N1,M1,M1,2,A,2024-02-01 09:00:00,new@example.com,US,New One,",        # M1's free right slot
            "N2,M1,M1,2,A,2024-02-01 09:00:00,n2@example.com,US,New Two,",         # the same slot: taken
            "N3,N1,N1,1,A,2024-02-01 09:00:00,TWO@example.com,US,Not Bo,",         # Bo Two's e-mail (stored)
            "M2,HOUSE,HOUSE,2,I,2024-01-03 09:00:00,two@example.com,GB,Bo Two,0044 20 7946 0958",  # stored as is
            "M1,HOUSE,HOUSE,1,A,2024-01-02 09:00:00,one@example.com,US,Ann Changed,",  # stored, differs
        ]) + "\n")
        text = (tmp_path / "mapping.toml").read_text().replace('file = "members.csv"', 'file = "later.csv"')
        mapping_path = tmp_path / "later.toml"
        mapping_path.write_text(text.split("[tables.orders]")[0])
        results = Migration(store, Mapping.from_toml(mapping_path), keys=KEYS).run()
        assert [(r.rows_read, r.rows_accepted, r.rows_quarantined) for r in results] == [(5, 1, 4)]
        batch = results[0].batch_id
        assert store._rows("SELECT record, reason, detail FROM quarantine WHERE batch_id = ? ORDER BY 1", [batch]) == [
            (2, "slot_taken", store._rows("SELECT detail FROM quarantine WHERE batch_id = ? AND record = 2",
                                          [batch])[0][0]),
            (3, "duplicate_email", "the same e-mail as stored member 'M2'; set policy.duplicate_emails = 'allow' "
                                   "to load both"),
            (4, "already_stored", "identical to the row stored by batch 1"),
            (5, "conflicts_with_stored", "its key is stored by batch 1 with other values (KYC name, phone); stored "
                                         "rows are never changed"),
        ]
        assert "N1" in store._rows("SELECT detail FROM quarantine WHERE batch_id = ? AND record = 2", [batch])[0][0]
        assert all(audit(store).column("ok").to_pylist())


def test_rollback_refuses_while_another_store_has_the_file_open(tmp_path: Path) -> None:
    from mlm_core.errors import StoreError

    store, results = migrate(tmp_path)
    with store, Store(tmp_path / "company.duckdb") as other:
        with pytest.raises(StoreError, match="1 other Store"):
            mlm_core.rollback(store, results[1].batch_id)
        assert other._rows("SELECT count(*) FROM orders")[0][0] == 4
    with Store(tmp_path / "company.duckdb") as alone:
        assert mlm_core.rollback(alone, results[1].batch_id)[0] == results[1].batch_id
        assert alone._rows("SELECT count(*) FROM orders")[0][0] == 0
