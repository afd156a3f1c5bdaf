"""KYC/PII encryption: AES-256-GCM (``cryptography``) with a versioned format, key ids and bound context.

A ciphertext is ``0x01 ‖ u8 len(key_id) ‖ key_id ‖ nonce (12 bytes, fresh per value) ‖ AES-GCM(value) ‖ tag``.
The associated data binds it to ``(table, column, member_id)``: a value copied to another member or column
fails to decrypt, as does one encrypted under another key or with a single bit changed; each case raises
:class:`~mlm_core.errors.PiiError` saying so.

Keys come from the environment (``MLM_CORE_PII_KEY="<key_id>:<base64 of 32 bytes>"``, several separated by
commas, the first encrypts) or from a passphrase stretched with scrypt; a passphrase key's salt and a check
value live in the store's ``pii_keys`` table, so a wrong passphrase is refused before anything is written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import PiiError

VERSION = 1
NONCE = 12
ENV_VAR = "MLM_CORE_PII_KEY"
# scrypt cost: N=2**15, r=8, p=1 takes about 0.1 s and 32 MiB, OWASP's recommended minimum.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_CHECK = b"mlm_core pii key check"
# Fields stored with a keyed lookup digest beside the ciphertext (duplicate e-mails across batches).
LOOKUP_FIELDS = ("email",)


def _aad(table: str, column: str, member_id: str) -> bytes:
    parts = [b"mlm_core/pii/v1", table.encode(), column.encode(), member_id.encode()]
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


class KeyRing:
    """AES-256 keys by id; ``current`` encrypts, every key decrypts what it encrypted."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise PiiError(f"the current key {current!r} is not in the key ring")
        for key_id, key in keys.items():
            if not key_id or len(key_id.encode()) > 255 or not key_id.isprintable():
                raise PiiError(f"key id {key_id!r} must be 1 to 255 printable bytes")
            if len(key) != 32:
                raise PiiError(f"key {key_id!r} has {len(key)} bytes; AES-256 needs 32")
        self._keys = {k: AESGCM(v) for k, v in keys.items()}
        self._raw = dict(keys)
        self._lookup_keys: dict[str, bytes] = {}
        self.current = current

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    @classmethod
    def from_env(cls, variable: str = ENV_VAR) -> KeyRing:
        text = os.environ.get(variable)
        if not text:
            raise PiiError(f"set {variable}=<key_id>:<base64 of 32 random bytes> to encrypt KYC data "
                           f"(python -c 'import os,base64;print(\"k1:\"+base64.b64encode(os.urandom(32)).decode())')")
        keys: dict[str, bytes] = {}
        for k, part in enumerate(text.split(",")):
            key_id, sep, encoded = part.strip().partition(":")
            if not sep:
                raise PiiError(f"{variable} entry {k + 1} is not <key_id>:<base64 key>")
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except ValueError:
                raise PiiError(f"{variable} entry {k + 1} ({key_id!r}) is not valid base64") from None
        return cls(keys, next(iter(keys)))

    @staticmethod
    def derive(passphrase: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
        if not passphrase:
            raise PiiError("the passphrase is empty")
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))

    def check_value(self, key_id: str) -> bytes:
        """A ciphertext of a constant under ``key_id``: stored, it tells a wrong key from a right one."""
        return self._seal(key_id, _CHECK, b"check")

    def verify_check(self, key_id: str, check: bytes) -> None:
        try:
            self._open(check, b"check")
        except PiiError:
            raise PiiError(f"the key given for {key_id!r} is not the one this store's data was encrypted with "
                           f"(wrong passphrase or key)") from None

    def _seal(self, key_id: str, plaintext: bytes, aad: bytes) -> bytes:
        kid = key_id.encode()
        nonce = os.urandom(NONCE)
        return bytes([VERSION, len(kid)]) + kid + nonce + self._keys[key_id].encrypt(nonce, plaintext, aad)

    def _open(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 2 or blob[0] != VERSION:
            raise PiiError(f"not a mlm_core PII ciphertext of version {VERSION} "
                           f"(first byte {blob[0] if blob else 'missing'})")
        end = 2 + blob[1]
        key_id = blob[2:end].decode("utf-8", errors="replace")
        if key_id not in self._keys:
            raise PiiError(f"the value was encrypted with key {key_id!r}, which this key ring does not hold "
                           f"(it has {', '.join(self._keys)})")
        nonce, body = blob[end:end + NONCE], blob[end + NONCE:]
        if len(nonce) < NONCE or len(body) < 16:
            raise PiiError("the ciphertext is truncated")
        try:
            return self._keys[key_id].decrypt(nonce, body, aad)
        except InvalidTag:
            raise PiiError("the value does not decrypt: wrong key, a ciphertext moved to another member or "
                           "column, or tampered bytes") from None

    def lookup(self, value: str, *, column: str, key_id: str | None = None) -> bytes:
        """A keyed digest (HMAC-SHA256 under a key derived from ``key_id``'s, HKDF) of a normalised value:
        equal values give equal digests, so duplicates are found without decrypting, and nobody without
        the key can test a guess."""
        kid = key_id or self.current
        if kid not in self._lookup_keys:
            if kid not in self._raw:
                raise PiiError(f"key {kid!r} is not in the key ring")
            self._lookup_keys[kid] = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                          info=b"mlm_core/pii/lookup/v1").derive(self._raw[kid])
        return hmac.new(self._lookup_keys[kid], column.encode() + b"\x00" + value.encode(), hashlib.sha256).digest()

    def encrypt(self, value: str, *, table: str, column: str, member_id: str) -> bytes:
        return self._seal(self.current, value.encode("utf-8"), _aad(table, column, member_id))

    def decrypt(self, blob: bytes, *, table: str, column: str, member_id: str) -> str:
        where = f"{table}.{column} of member {member_id!r}"
        try:
            return self._open(blob, _aad(table, column, member_id)).decode("utf-8")
        except PiiError as exc:
            raise PiiError(f"{where}: {exc}") from None

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        if len(blob) < 2 or blob[0] != VERSION:
            raise PiiError("not a mlm_core PII ciphertext")
        return blob[2:2 + blob[1]].decode("utf-8", errors="replace")


# -- the store's KYC table -----------------------------------------------------------------------------
# These take a Store (mlm_core.store.Store); imported lazily so that this module stays usable on its own.


def passphrase_keys(store: Any, passphrase: str, *, key_id: str = "pass-1") -> KeyRing:
    """A key ring from a passphrase: scrypt over the salt stored for ``key_id`` in ``pii_keys`` (created with
    a fresh salt on first use). A passphrase that does not match the stored check value is refused."""
    rows = store._rows("SELECT kdf, salt, params, check_value FROM pii_keys WHERE key_id = ?", [key_id])
    if rows:
        kdf, salt, params, check = rows[0]
        if kdf != "scrypt":
            raise PiiError(f"key {key_id!r} is not a passphrase key (kdf {kdf})")
        p = json.loads(params)
        ring = KeyRing({key_id: KeyRing.derive(passphrase, bytes(salt), p["n"], p["r"], p["p"])}, key_id)
        ring.verify_check(key_id, bytes(check))
        return ring
    salt = os.urandom(16)
    ring = KeyRing({key_id: KeyRing.derive(passphrase, salt)}, key_id)
    store._db.execute("INSERT INTO pii_keys VALUES (?, 'scrypt', ?, ?, ?, ?)",
                      [key_id, salt, json.dumps({"n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}),
                       ring.check_value(key_id), time.time_ns() // 1000])
    return ring


def register_keys(store: Any, keys: KeyRing) -> None:
    """Records a check value for each key of ``keys`` not yet known to the store, and refuses a key whose id
    the store knows with a different check value (the wrong key under a known id)."""
    for key_id in keys.key_ids:
        rows = store._rows("SELECT check_value FROM pii_keys WHERE key_id = ?", [key_id])
        if rows:
            keys.verify_check(key_id, bytes(rows[0][0]))
        else:
            store._db.execute("INSERT INTO pii_keys VALUES (?, 'raw', NULL, NULL, ?, ?)",
                              [key_id, keys.check_value(key_id), time.time_ns() // 1000])


def read_kyc(store: Any, member_id: str, keys: KeyRing) -> dict[str, str]:
    """One member's KYC fields, decrypted."""
    rows = store._rows("SELECT field, ciphertext FROM kyc WHERE member_id = ? ORDER BY field", [member_id])
    return {f: keys.decrypt(bytes(c), table="kyc", column=f, member_id=member_id) for f, c in rows}


def rotate(store: Any, old: KeyRing, new: KeyRing) -> int:
    """Re-encrypts every KYC value under ``new.current`` in one transaction; returns how many. Values already
    under the new key are left as they are, so an interrupted rotation can simply be run again."""
    register_keys(store, new)
    rows = store._rows("SELECT member_id, field, ciphertext, key_id FROM kyc WHERE key_id <> ?", [new.current])
    sealed = [(b, r, bytes(c)) for b, r, c in store._rows(
        "SELECT batch_id, record, raw_sealed FROM quarantine WHERE raw_sealed IS NOT NULL")]
    sealed = [(b, r, c) for b, r, c in sealed if KeyRing.key_id_of(c) != new.current]
    with store._transaction():
        for batch, record, blob in sealed:  # quarantined rows of exports with personal data
            where = {"table": "quarantine", "column": "raw", "member_id": f"{batch}:{record}"}
            store._db.execute("UPDATE quarantine SET raw_sealed = ? WHERE batch_id = ? AND record = ?",
                              [new.encrypt(old.decrypt(blob, **where), **where), batch, record])
        for member, field, blob, _ in rows:
            value = old.decrypt(bytes(blob), table="kyc", column=field, member_id=member)
            lookup = new.lookup(value, column=field) if field in LOOKUP_FIELDS else None
            store._db.execute("UPDATE kyc SET ciphertext = ?, key_id = ?, lookup = ? "
                              "WHERE member_id = ? AND field = ?",
                              [new.encrypt(value, table="kyc", column=field, member_id=member), new.current,
                               lookup, member, field])
        store._db.execute("INSERT INTO migration_log VALUES (?, 'pii_rotated', ?)",
                          [time.time_ns() // 1000, json.dumps({"to": new.current, "kyc": len(rows),
                                                               "quarantine": len(sealed)})])
    return len(rows)


def erase_person(store: Any, member_id: str, *, reason: str) -> int:
    """Erases one person's personal data (right to erasure) and records it: the KYC values, the sealed raw
    rows of their quarantined records, and the migration backups (every one of them holds the person's
    data, so a rollback is no longer possible afterwards). The genealogy, the commissions and the wallet
    ledger keep the member id only, which carries no personal data, so every ledger still verifies.
    Returns the number of KYC values erased."""
    known = store._rows("SELECT 1 FROM members WHERE member_id = ? UNION ALL SELECT 1 FROM kyc WHERE member_id = ? "
                        "UNION ALL SELECT 1 FROM quarantine WHERE member_id = ? LIMIT 1",
                        [member_id, member_id, member_id])
    if not known:
        raise PiiError(f"member {member_id!r} is not in the store (neither migrated nor quarantined)")
    backups = [Path(b) for (b,) in store._rows("SELECT backup FROM migration_batches WHERE backup IS NOT NULL")]
    with store._transaction():
        count = store._rows("SELECT count(*) FROM kyc WHERE member_id = ?", [member_id])[0][0]
        store._db.execute("DELETE FROM kyc WHERE member_id = ?", [member_id])
        store._db.execute("UPDATE quarantine SET raw_sealed = NULL, raw = '<erased>' "
                          "WHERE member_id = ? AND raw_sealed IS NOT NULL", [member_id])
        store._db.execute("UPDATE migration_batches SET backup = NULL WHERE backup IS NOT NULL")
        store._db.execute("INSERT OR REPLACE INTO erasures VALUES (?, ?, ?, ?)",
                          [member_id, count, reason, time.time_ns() // 1000])
    for backup in backups:  # after the commit: a failed erasure keeps its backups
        backup.unlink(missing_ok=True)
    return int(count)


def read_quarantined_raw(store: Any, batch_id: int, record: int, keys: KeyRing) -> str:
    """The raw text of a quarantined record whose export held personal data (stored sealed)."""
    rows = store._rows("SELECT raw, raw_sealed FROM quarantine WHERE batch_id = ? AND record = ?", [batch_id, record])
    if not rows:
        raise PiiError(f"no quarantined record {record} in batch {batch_id}")
    raw, sealed = rows[0]
    if sealed is None:
        return str(raw)
    return keys.decrypt(bytes(sealed), table="quarantine", column="raw", member_id=f"{batch_id}:{record}")
