"""KYC encryption: the format, the bound context, every failure mode, rotation and erasure."""

from __future__ import annotations

import base64
from pathlib import Path

import legacy_company as company
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlm_core import KeyRing, Mapping, Migration, PiiError, Store
from mlm_core.pii import erase_person, passphrase_keys, read_kyc, register_keys, rotate

KEY = bytes(range(32))
RING = KeyRing({"k1": KEY}, "k1")


def test_format_is_versioned_with_key_id_and_fresh_nonce() -> None:
    a = RING.encrypt("Ann One", table="kyc", column="name", member_id="M1")
    b = RING.encrypt("Ann One", table="kyc", column="name", member_id="M1")
    assert a[0] == 1 and a[1] == 2 and a[2:4] == b"k1"
    assert a[4:16] != b[4:16]  # fresh nonce
    assert len(a) == 4 + 12 + len("Ann One") + 16
    # Independently: the body is AES-256-GCM of the value under the key and the documented associated data.
    aad = b"".join(len(p).to_bytes(4, "big") + p for p in [b"mlm_core/pii/v1", b"kyc", b"name", b"M1"])
    assert AESGCM(KEY).decrypt(a[4:16], a[16:], aad) == b"Ann One"
    assert RING.decrypt(a, table="kyc", column="name", member_id="M1") == "Ann One"


@pytest.mark.parametrize(("change", "message"), [
    ("member", "moved to another member"), ("column", "moved to another member or column"),
    ("bit", "tampered"), ("key", "wrong key"), ("key_id", "which this key ring does not hold"),
    ("version", "version 1"), ("truncated", "truncated")])
def test_every_bad_ciphertext_is_a_clear_error(change: str, message: str) -> None:
    blob = RING.encrypt("+12125550101", table="kyc", column="phone", member_id="M1")
    where = {"table": "kyc", "column": "phone", "member_id": "M1"}
    ring = RING
    if change == "member":
        where["member_id"] = "M2"
    elif change == "column":
        where["column"] = "email"
    elif change == "bit":
        blob = blob[:-1] + bytes([blob[-1] ^ 1])
    elif change == "key":
        ring = KeyRing({"k1": bytes(32)}, "k1")
    elif change == "key_id":
        ring = KeyRing({"k2": KEY}, "k2")
    elif change == "version":
        blob = b"\x02" + blob[1:]
    elif change == "truncated":
        blob = blob[:10]
    with pytest.raises(PiiError, match=message) as info:
        ring.decrypt(blob, **where)
    assert f"kyc.{where['column']} of member" in str(info.value)


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLM_CORE_PII_KEY", f"new:{base64.b64encode(bytes(32)).decode()}, "
                                           f"k1:{base64.b64encode(KEY).decode()}")
    ring = KeyRing.from_env()
    assert ring.current == "new" and ring.key_ids == ["new", "k1"]
    old = RING.encrypt("x", table="kyc", column="name", member_id="M1")
    assert ring.decrypt(old, table="kyc", column="name", member_id="M1") == "x"
    for bad, message in [("", "set MLM_CORE_PII_KEY"), ("k1", "not <key_id>:<base64"), ("k1:@@", "base64"),
                         (f"k1:{base64.b64encode(bytes(16)).decode()}", "32")]:
        monkeypatch.setenv("MLM_CORE_PII_KEY", bad)
        with pytest.raises(PiiError, match=message):
            KeyRing.from_env()


def test_passphrase_keys_keep_their_salt_and_refuse_a_wrong_passphrase(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        first = passphrase_keys(store, "correct horse battery staple")
        blob = first.encrypt("Ann", table="kyc", column="name", member_id="M1")
        again = passphrase_keys(store, "correct horse battery staple")
        assert again.decrypt(blob, table="kyc", column="name", member_id="M1") == "Ann"
        salt = store._rows("SELECT salt FROM pii_keys WHERE key_id = 'pass-1'")[0][0]
        assert len(bytes(salt)) == 16
        with pytest.raises(PiiError, match="wrong passphrase"):
            passphrase_keys(store, "correct horse battery stapler")


def test_a_known_key_id_with_another_key_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        register_keys(store, RING)
        register_keys(store, RING)
        with pytest.raises(PiiError, match="not the one"):
            register_keys(store, KeyRing({"k1": bytes(32)}, "k1"))


@pytest.fixture
def migrated(tmp_path: Path) -> Store:
    store = Store(tmp_path / "company.duckdb")
    Migration(store, Mapping.from_toml(company.write(tmp_path)), keys=RING).run()
    yield store
    store.close()


def test_kyc_is_encrypted_at_rest(migrated: Store) -> None:
    blobs = [bytes(b) for (b,) in migrated._rows("SELECT ciphertext FROM kyc")]
    assert blobs and all(b"example.com" not in b and b"Ann" not in b for b in blobs)
    assert read_kyc(migrated, "M1", RING) == {"email": "one@example.com", "name": "Ann One",
                                              "phone": "+12125550101"}


def test_a_ciphertext_swapped_between_members_does_not_decrypt(migrated: Store) -> None:
    migrated._db.execute("UPDATE kyc SET ciphertext = (SELECT ciphertext FROM kyc WHERE member_id = 'M2' "
                         "AND field = 'name') WHERE member_id = 'M1' AND field = 'name'")
    with pytest.raises(PiiError, match=r"kyc\.name of member 'M1'.*moved to another member"):
        read_kyc(migrated, "M1", RING)


def test_rotation_reencrypts_everything_and_can_be_rerun(migrated: Store) -> None:
    new = KeyRing({"k2": bytes(range(1, 33))}, "k2")
    before = {m: read_kyc(migrated, m, RING) for m in ("HOUSE", "M1", "M2")}
    count = migrated._rows("SELECT count(*) FROM kyc")[0][0]
    assert rotate(migrated, RING, new) == count
    assert migrated._rows("SELECT DISTINCT key_id FROM kyc") == [("k2",)]
    assert {m: read_kyc(migrated, m, new) for m in before} == before
    with pytest.raises(PiiError, match="'k2', which this key ring does not hold"):
        read_kyc(migrated, "M1", RING)
    assert rotate(migrated, RING, new) == 0
    # The e-mail lookup digests follow the key, so duplicate e-mails are still found after a rotation.
    (lookup,) = migrated._rows("SELECT lookup FROM kyc WHERE member_id = 'M1' AND field = 'email'")[0]
    assert bytes(lookup) == new.lookup("one@example.com", column="email") != RING.lookup("one@example.com",
                                                                                          column="email")


def test_erasure_removes_one_person_and_every_ledger_still_verifies(migrated: Store) -> None:
    assert migrated.verify_ledger().ok
    assert erase_person(migrated, "M1", reason="GDPR art. 17 request 2024-77") == 3
    assert read_kyc(migrated, "M1", RING) == {}
    assert read_kyc(migrated, "M2", RING)["name"] == "Bo Two"
    assert migrated._rows("SELECT member_id, fields_erased, reason FROM erasures") == [
        ("M1", 3, "GDPR art. 17 request 2024-77")]
    assert migrated.verify_ledger().ok
    assert migrated._rows("SELECT count(*) FROM members WHERE member_id = 'M1'")[0][0] == 1
    with pytest.raises(PiiError, match="not in the store"):
        erase_person(migrated, "NOBODY", reason="x")


def test_an_export_bundle_carries_personal_data_only_encrypted(migrated: Store, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from mlm_core.migrate.bundle import export_bundle, verify_bundle

    manifest = export_bundle(migrated, tmp_path / "bundle")
    folder = manifest.parent
    assert verify_bundle(folder) == []
    plaintext = [b"one@example.com", b"Ann One", b"Bo Two", b"+12125550101", b"not-an-email", b"Cy Three"]
    for path in folder.glob("*.parquet"):
        # Every decoded value (Parquet compresses, so the file's bytes alone would prove nothing).
        for column in pq.read_table(path).columns:
            for value in column.to_pylist():
                text = value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else b""
                assert not [p for p in plaintext if p in text], (path.name, value)
    kyc = pq.read_table(folder / "kyc.parquet").to_pylist()
    row = next(r for r in kyc if r["member_id"] == "M1" and r["field"] == "name")
    assert RING.decrypt(row["ciphertext"], table="kyc", column="name", member_id="M1") == "Ann One"
    members = pq.read_table(folder / "members.parquet")
    assert members.num_rows == migrated._rows("SELECT count(*) FROM members")[0][0]
    (folder / "orders.parquet").write_bytes((folder / "orders.parquet").read_bytes()[:-10] + b"0" * 10)
    assert verify_bundle(folder) == ["orders.parquet: SHA-256 differs from the manifest"]
