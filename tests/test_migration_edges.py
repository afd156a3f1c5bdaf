"""Adversarial inputs found in review: each reproduces a defect that once existed, against its fix."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import legacy_company as company
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mlm_core
from mlm_core import KeyRing, Mapping, Migration, Store, audit
from mlm_core.errors import MappingError, MigrationError, PiiError, StoreError
from mlm_core.pii import erase_person, read_quarantined_raw, rotate

KEYS = KeyRing({"k1": bytes(range(32))}, "k1")


def write_members(folder: Path, rows: list[str], header: str = "member_id,sponsor_id,placement_id,leg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "members.csv").write_text("\n".join([header, *rows]) + "\n")
    mapping = folder / "mapping.toml"
    mapping.write_text('[defaults]\ntimezone = "UTC"\n[tables.members]\nfile = "members.csv"\n')
    return mapping


def run(folder: Path, mapping: Path,
        keys: KeyRing | None = KEYS) -> tuple[Store, list[mlm_core.migrate.run.BatchResult]]:
    store = Store(folder / "s.duckdb")
    return store, Migration(store, Mapping.from_toml(mapping), keys=keys).run()


def test_parquet_column_names_are_never_sql(tmp_path: Path) -> None:
    evil = 'leg" AS VARCHAR) AS "leg", error(\'injected\') AS "x'
    pq.write_table(pa.table({"member_id": ["A", "B"], "sponsor_id": [None, "A"], "placement_id": [None, "A"],
                             evil: [None, "L"], 'na"me': ["x", "y"]}), tmp_path / "members.parquet")
    (tmp_path / "mapping.toml").write_text(
        f'[tables.members]\nfile = "members.parquet"\n[tables.members.columns]\nleg = {json.dumps(evil)}\n')
    store, results = run(tmp_path, tmp_path / "mapping.toml")
    with store:
        assert results[0].rows_accepted == 2
        assert store._rows("SELECT member_id, leg FROM members ORDER BY 1") == [("A", None), ("B", "L")]


def test_parquet_timestamps_render_in_utc_whatever_the_host_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    when = pa.array([-3786778800000000, 0], pa.timestamp("us", tz="America/New_York"))  # 1850-01-05T15:00Z
    pq.write_table(pa.table({"member_id": ["A", "B"], "sponsor_id": [None, "A"], "placement_id": [None, "A"],
                             "leg": [None, "L"], "joined_at": when}), tmp_path / "members.parquet")
    (tmp_path / "mapping.toml").write_text('[tables.members]\nfile = "members.parquet"\n')
    store, _ = run(tmp_path, tmp_path / "mapping.toml")
    with store:
        assert store._rows("SELECT joined_at FROM members ORDER BY 1") == [(-3786778800000000,), (0,)]


def test_changing_batch_rows_on_resume_is_refused(tmp_path: Path) -> None:
    company.write(tmp_path, batch_rows=5)
    store = Store(tmp_path / "company.duckdb")
    with store:
        Migration(store, Mapping.from_toml(tmp_path / "mapping.toml"), keys=KEYS).run()
        orders = store._rows("SELECT batch_id FROM migration_batches WHERE table_name = 'orders' ORDER BY 1")
        mlm_core.rollback(store, orders[1][0])  # parts 1 and 2 undone, part 0 stays
        for other in (3, None):
            text = (tmp_path / "mapping.toml").read_text().replace("batch_rows = 5", "" if other is None
                                                                   else f"batch_rows = {other}")
            (tmp_path / "other.toml").write_text(text)
            with pytest.raises(MigrationError, match="partly loaded in batches of 5 records"):
                Migration(store, Mapping.from_toml(tmp_path / "other.toml"), keys=KEYS).run()


def test_personal_data_needs_keys_even_when_every_row_is_bad(tmp_path: Path) -> None:
    mapping = write_members(tmp_path, ["A,,,,", "B,A,A,L,bad-email"],
                            header="member_id,sponsor_id,placement_id,leg,email")
    store = Store(tmp_path / "s.duckdb")
    with store:
        with pytest.raises(MigrationError, match=r"personal data \(email\); pass keys="):
            Migration(store, Mapping.from_toml(mapping)).run()
        assert store._rows("SELECT count(*) FROM quarantine")[0][0] == 0


def test_a_legacy_column_fills_one_field_only(tmp_path: Path) -> None:
    mapping = write_members(tmp_path, ["A,,,,ann@x.com", "B,A,A,L,bob@x.com"],
                            header="member_id,sponsor_id,placement_id,leg,tier")
    mapping.write_text(mapping.read_text() + '[tables.members.columns]\nemail = "tier"\n')
    store, _ = run(tmp_path, mapping)
    with store:
        assert store._rows("SELECT DISTINCT tier FROM members") == [(None,)]
        assert mlm_core.pii.read_kyc(store, "B", KEYS) == {"email": "bob@x.com"}


def test_rollback_refuses_to_undo_postings_and_erasures(tmp_path: Path) -> None:
    store, results = run(tmp_path, company.write(tmp_path))
    with store:
        store.post(pa.table({"tx_id": ["LIVE-1"], "wallet_id": ["M1"], "amount": [5], "currency": ["USD"],
                             "kind": ["commission"], "created_at": [1]}))
        with pytest.raises(MigrationError, match="1 wallet postings happened after it"):
            mlm_core.rollback(store, results[1].batch_id)
        erase_person(store, "M2", reason="request")
        with pytest.raises(MigrationError, match="deleted by an erasure"):
            mlm_core.rollback(store, results[1].batch_id)
        assert not any(Path(r.backup or "").exists() for r in results)


def test_erasure_and_rotation_reach_the_sealed_quarantine(tmp_path: Path) -> None:
    store, results = run(tmp_path, company.write(tmp_path))
    with store:
        members = results[0].batch_id
        new = KeyRing({"k2": bytes(range(1, 33))}, "k2")
        rotate(store, KEYS, new)
        assert "not-an-email" in read_quarantined_raw(store, members, 4, new)  # M3's row, re-encrypted
        with pytest.raises(PiiError):
            read_quarantined_raw(store, members, 4, KEYS)
        # D1 exists only in quarantine (conflicting duplicates): it can still be erased.
        erase_person(store, "D1", reason="request")
        assert store._rows("SELECT DISTINCT raw, raw_sealed FROM quarantine WHERE member_id = 'D1'") == [
            ("<erased>", None)]
        erase_person(store, "M3", reason="request")
        assert read_quarantined_raw(store, members, 4, new) == "<erased>"


@pytest.mark.parametrize("name", ["_mlm_line", "_mlm_record"])
def test_reserved_column_names_are_refused(tmp_path: Path, name: str) -> None:
    mapping = write_members(tmp_path, ["A,,,,1"], header=f"member_id,sponsor_id,placement_id,leg,{name}")
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(MigrationError, match="reserves"):
        Migration(store, Mapping.from_toml(mapping)).run()


def test_json_nested_too_deeply_and_absent_keys(tmp_path: Path) -> None:
    deep = '{"member_id": "B", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "members.ndjson").write_text("\n".join([
        '{"member_id": "A"}', deep, '{"member_id": "C", "sponsor_id": "A", "placement_id": "A", "leg": "R"}']))
    (tmp_path / "mapping.toml").write_text('[tables.members]\nfile = "members.ndjson"\n'
                                           '[tables.members.columns]\nstatus = "state"\n')
    store, results = run(tmp_path, tmp_path / "mapping.toml")
    with store:
        assert (results[0].rows_read, results[0].rows_accepted) == (3, 2)
        assert store._rows("SELECT record, reason, detail FROM quarantine") == [
            (2, "bad_json", "not readable: nested too deeply")]
        assert store._rows("SELECT member_id, status FROM members ORDER BY 1") == [("A", None), ("C", None)]


@pytest.mark.parametrize(("setting", "key"), [
    ('timestamp_format = "%Q"', "defaults.timestamp_format"), ('timezone = "posix/Europe/Paris"', "defaults.timezone"),
    ('timezone = "localtime"', "defaults.timezone"), ('currency = "usdx"', "defaults.currency")])
def test_settings_are_checked_when_the_mapping_loads(tmp_path: Path, setting: str, key: str) -> None:
    (tmp_path / "mapping.toml").write_text(f'[defaults]\n{setting}\n[tables.members]\nfile = "m.csv"\n')
    with pytest.raises(MappingError) as info:
        Mapping.from_toml(tmp_path / "mapping.toml")
    assert info.value.key == key


def test_field_checks_found_in_review(tmp_path: Path) -> None:
    company.write(tmp_path)
    orders = [company.ORDERS.splitlines()[0], "P1,M1,2024-01,1,1,1.234,KWX,2024-01-05T10:00:00Z",
              "P2,M1,2024-01,\x0b10,1,1,USD,2024-01-05T10:00:00Z", "P3,M1,2024-01, 10,1,1,USD,2024-01-05T10:00:00Z"]
    (tmp_path / "orders.csv").write_text("\n".join(orders) + "\n")
    members = company.MEMBERS.replace("(212) 555-0101", "1-212-555-0101")
    (tmp_path / "members.csv").write_bytes(members.encode().replace(b"<FF>", b"\xff"))
    store, _ = run(tmp_path, tmp_path / "mapping.toml")
    with store:
        reasons = dict(store._rows("SELECT record, reason FROM quarantine WHERE table_name = 'orders'"))
        # The unknown currency is the reason (not the decimals its unknown minor unit would allow); a vertical
        # tab is trimmed like a space, whatever else is in the column.
        assert reasons == {1: "bad_currency"}
        assert store._rows("SELECT order_id, pv FROM orders ORDER BY 1") == [("P2", 1000), ("P3", 1000)]
        assert mlm_core.pii.read_kyc(store, "M1", KEYS)["phone"] == "+12125550101"


@pytest.mark.parametrize("value", ["infinity", "epoch", "1992-09-20 (BC)", "2024-01-05 10:00", "2024-02-30"])
def test_dates_are_exactly_iso_days(tmp_path: Path, value: str) -> None:
    mapping = write_members(tmp_path, ["A,,,,1990-05-17", f"B,A,A,L,{value}"],
                            header="member_id,sponsor_id,placement_id,leg,date_of_birth")
    store, _ = run(tmp_path, mapping)
    with store:
        assert store._rows("SELECT member_id, reason FROM quarantine") == [("B", "bad_date")]
        assert mlm_core.pii.read_kyc(store, "A", KEYS) == {"date_of_birth": "1990-05-17"}


def test_an_orphaned_house_account_is_named(tmp_path: Path) -> None:
    mapping = write_members(tmp_path, ["R,,,", "HOUSE,GONE,GONE,L", "B,HOUSE,HOUSE,L"])
    mapping.write_text('[policy]\norphans = "attach"\nhouse_account = "HOUSE"\n'
                       '[tables.members]\nfile = "members.csv"\n')
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(MigrationError, match="'HOUSE' is itself an orphan"):
        Migration(store, Mapping.from_toml(mapping)).run()


def test_an_unclosed_store_does_not_block_a_rollback_once_collected(tmp_path: Path) -> None:
    store, results = run(tmp_path, company.write(tmp_path))
    store.close()
    forgotten = Store(tmp_path / "s.duckdb")
    forgotten._con.close()  # type: ignore[union-attr]  # as if its process had dropped it
    del forgotten
    gc.collect()
    with Store(tmp_path / "s.duckdb") as again:
        assert mlm_core.rollback(again, results[-1].batch_id) == [results[-1].batch_id]
        with Store(tmp_path / "s.duckdb"), pytest.raises(StoreError, match="1 other Store"):
            mlm_core.rollback(again, results[-2].batch_id)


def test_an_all_quarantined_wallet_part_audits_clean(tmp_path: Path) -> None:
    company.write(tmp_path)
    (tmp_path / "wallet.ndjson").write_text('{"id": "W9", "member": "NOBODY", "amount": 1, "currency": "USD", '
                                            '"type": "x", "at": "2024-01-01T00:00:00Z"}\n')
    store, _ = run(tmp_path, tmp_path / "mapping.toml")
    with store:
        assert all(audit(store).column("ok").to_pylist())
