"""Running a migration: batches of one source part each, every batch one transaction after a backup.

``Migration(store, mapping).run()`` loads the mapping's tables in dependency order (members first). Each
source file is read, cleansed, de-duplicated, checked against the members (and, for members, the genealogy
gate) and written as one batch — or several, ``batch_rows`` records each. Before a batch, the database is
checkpointed and copied; the batch's rows, its quarantine, its attachments and its bookkeeping row commit
together or not at all. A batch is known by ``(table, source file SHA-256, part)``: running again after a
crash (even ``kill -9`` mid-batch) skips the committed batches and redoes the interrupted one, ending where an
uninterrupted run ends. ``rollback(batch_id)`` restores the copy taken before that batch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import ledger, pii
from ..errors import MigrationError
from ..genealogy import Genealogy
from ..pii import LOOKUP_FIELDS, KeyRing
from ..store import Store, _prepare, registered
from . import cleanse as cleansing
from . import genealogy_check, sources
from .canonical import LOAD_ORDER, PII_FIELDS, TABLES, Table
from .mapping import Mapping, Source

KILL_HOOK = "MLM_CORE_TEST_PAUSE_IN_BATCH"  # tests: pause inside this batch's transaction, before COMMIT


@dataclass(frozen=True)
class BatchResult:
    batch_id: int
    table: str
    source_file: str
    part: int
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    resumed: bool
    backup: str | None


def _now() -> int:
    return time.time_ns() // 1000


class Migration:
    """A migration of ``mapping``'s exports into ``store``.

    Parameters
    ----------
    keys
        The PII key ring; needed when a members export maps KYC columns (they are stored encrypted only).
    backup_dir
        Where the copy before each batch goes; by default ``<database>.backups`` beside the database.
    """

    def __init__(self, store: Store, mapping: Mapping, *, keys: KeyRing | None = None,
                 backup_dir: str | os.PathLike[str] | None = None) -> None:
        self.store = store
        self.mapping = mapping
        self.keys = keys
        self.backup_dir = Path(backup_dir) if backup_dir is not None else \
            store.path.with_name(store.path.name + ".backups")
        self.backup_dir = self.backup_dir.resolve()  # recorded absolute: a rollback may run elsewhere
        self._header: list[str] = []

    @property
    def _db(self) -> Any:
        return self.store._db

    def run(self, progress: Callable[[str], None] | None = None) -> list[BatchResult]:
        """Loads every pending batch of the mapping, in dependency order; committed ones are skipped.
        The run and each of its batches are logged in ``migration_log``."""
        results: list[BatchResult] = []
        if self.keys is not None:
            pii.register_keys(self.store, self.keys)  # a wrong key under a known id stops here
        self._log("run_started", {"tables": [n for n in LOAD_ORDER if n in self.mapping.sources]})
        for name in LOAD_ORDER:
            source = self.mapping.sources.get(name)
            if source is None:
                continue
            if progress:
                progress(f"{name}: reading {source.file.name}")
            results.extend(self._load(source))
        self._log("run_finished", {"batches": [b.batch_id for b in results],
                                   "resumed": [b.batch_id for b in results if b.resumed],
                                   "rows_read": sum(b.rows_read for b in results),
                                   "rows_quarantined": sum(b.rows_quarantined for b in results)})
        return results

    def _log(self, event: str, detail: dict[str, Any]) -> None:
        with self.store._lock:
            self._db.execute("INSERT INTO migration_log VALUES (?, ?, ?)",
                             [_now(), event, json.dumps(detail, sort_keys=True)])

    # -- one source ------------------------------------------------------------------------------------

    def _done(self, table: str, sha: str) -> dict[int, tuple[Any, ...]]:
        rows = self.store._rows(
            "SELECT part, batch_id, rows_read, rows_accepted, rows_quarantined, backup, source_digest "
            "FROM migration_batches WHERE table_name = ? AND source_sha256 = ?", [table, sha])
        return {r[0]: r[1:] for r in rows}

    def _load(self, source: Source) -> list[BatchResult]:
        table = TABLES[source.table]
        sha = sources.file_sha256(source.file)
        done = self._done(table.name, sha)
        # A resumed file must be cut the same way: its committed parts cover fixed record ranges.
        sizes = {json.loads(d[-1]).get("part_rows") for d in done.values()}
        if done and sizes != {source.batch_rows}:
            (before,) = sizes if len(sizes) == 1 else (None,)
            raise MigrationError(f"{source.table}: {source.file.name} is partly loaded "
                                 f"{'in batches of ' + str(before) + ' records' if before else 'in one batch'}; "
                                 f"resume with batch_rows = {before if before else 'unset'} (or roll back its "
                                 f"batches first), or parts would overlap or be skipped")
        if done and source.batch_rows is None:
            return [self._resumed(source, 0, done[0])]
        raw = sources.read(source, sha)
        self._header = [c for c in raw.table.column_names if c not in sources.RESERVED]
        personal = self._personal_columns(source)
        if personal and self.keys is None:
            raise MigrationError(f"{source.table}: {source.file.name} has personal data ({', '.join(sorted(personal))})"
                                 f"; pass keys= (mlm_core.KeyRing, e.g. KeyRing.from_env()) so it is stored "
                                 f"encrypted only")
        clean = cleansing.cleanse(self._db, source, raw)
        accepted, quarantine = clean.accepted, [_with_reason_rows(raw.rejects), clean.quarantine]
        attachments = genealogy_check.ATTACH_SCHEMA.empty_table()
        summary_extra: dict[str, Any] = {}
        if table.name == "members":
            accepted, attachments, genealogy = self._members(table, accepted, raw, quarantine)
            summary_extra["levels"] = _levels(genealogy)
            # Findings that do not stop a load (placement outside the sponsor's line), counted per code.
            warnings = genealogy.warnings
            summary_extra["genealogy_warnings"] = {
                c["values"]: c["counts"] for c in pc.value_counts(warnings.column("code")).to_pylist()}
        else:
            accepted, dup_q = self._duplicates(table, accepted, raw)
            accepted, stored_q = self._against_store(table, accepted, raw)
            accepted, ref_q = self._member_refs(table, accepted, raw)
            quarantine.extend([dup_q, stored_q, ref_q])
        bad = pa.concat_tables(quarantine).sort_by("record")
        if accepted.num_rows + bad.num_rows != raw.records:
            raise MigrationError(f"{source.table}: {raw.records} records read but {accepted.num_rows} accepted and "
                                 f"{bad.num_rows} quarantined; this is a bug, please report it")
        size = source.batch_rows or max(raw.records, 1)
        count = max(1, -(-raw.records // size))
        results = []
        for part in range(count):
            if part in done:
                results.append(self._resumed(source, part, done[part]))
                continue
            lo, hi = part * size + 1, (part + 1) * size + 1
            part_accepted = _records_in(accepted, "_mlm_record", lo, hi) if count > 1 else accepted
            part_bad = _records_in(bad, "record", lo, hi) if count > 1 else bad
            read = min(hi, raw.records + 1) - lo
            results.append(self._write(source, table, sha, part, read, part_accepted, part_bad, attachments,
                                       summary_extra, clean.ignored_columns))
        return results

    def _members(self, table: Table, accepted: pa.Table, raw: sources.Raw,
                 quarantine: list[pa.Table]) -> tuple[pa.Table, pa.Table, Genealogy]:
        """Duplicates, keys already stored, repeated e-mails and the genealogy gate. When the stored and
        the accepted members already form whole trees (one build proves no id repeats and none is
        stored), and no e-mail repeats, the per-row checks are skipped."""
        stored = self.store._table("SELECT member_id, sponsor_id, placement_id, leg FROM members")
        whole = genealogy_check.whole(accepted, stored)
        if whole is not None:
            _, email_q = self._duplicate_emails(accepted, raw)
            if email_q.num_rows == 0:
                return accepted, genealogy_check.ATTACH_SCHEMA.empty_table(), whole
        accepted, dup_q = self._duplicates(table, accepted, raw)
        accepted, stored_q = self._against_store(table, accepted, raw)
        accepted, email_q = self._duplicate_emails(accepted, raw)
        quarantine.extend([dup_q, stored_q, email_q])
        earlier = pa.concat_tables(quarantine)
        excluded = {m: r for m, r in zip(earlier.column("member_id").to_pylist(),
                                         earlier.column("reason").to_pylist(), strict=True) if m is not None}
        checked = genealogy_check.check(accepted, stored, raw, self.mapping.policy, excluded,
                                        known_broken=whole is None and not (dup_q.num_rows or stored_q.num_rows
                                                                            or email_q.num_rows))
        quarantine.append(checked.quarantine)
        text = pa.schema([(c, pa.string()) for c in stored.column_names])
        genealogy = checked.genealogy or Genealogy.from_arrow(pa.concat_tables([
            stored.cast(text), checked.accepted.select(stored.column_names).cast(text)]))
        return checked.accepted, checked.attachments, genealogy

    def _resumed(self, source: Source, part: int, row: tuple[Any, ...]) -> BatchResult:
        batch_id, read, accepted, quarantined, backup, _ = row
        return BatchResult(batch_id, source.table, str(source.file), part, read, accepted, quarantined, True, backup)

    # -- checks on the accepted rows -------------------------------------------------------------------

    def _duplicates(self, table: Table, accepted: pa.Table, raw: sources.Raw) -> tuple[pa.Table, pa.Table]:
        """Rows repeating a key: exact copies after the first go to quarantine as ``duplicate_row``; when the
        copies differ, every one of them goes, as ``conflicting_duplicate`` (no row can be picked as right)."""
        key = ", ".join(table.key)
        # Every field, KYC included: two rows of one member with different names are a conflict.
        fields = ", ".join(f.name for f in table.fields if f.name in accepted.column_names)
        indexed = accepted.append_column("_i", _row_numbers(accepted.num_rows))
        with registered(self._db, "_mlm_acc", indexed):
            # First only the repeated keys (one hash aggregate); the details for those alone.
            repeated = self.store._rows(f"SELECT count(*) FROM (SELECT {key} FROM _mlm_acc GROUP BY {key} "
                                        f"HAVING count(*) > 1)")[0][0]
            rows = [] if repeated == 0 else self.store._rows(f"""
                WITH t AS (SELECT {key}, _i, _mlm_record, hash({fields}) AS h FROM _mlm_acc
                           SEMI JOIN (SELECT {key} FROM _mlm_acc GROUP BY {key} HAVING count(*) > 1) d
                           USING ({key})),
                g AS (SELECT {key}, count(*) AS n, min(h) <> max(h) AS conflict, min(_mlm_record) AS first,
                             string_agg(CAST(_mlm_record AS VARCHAR), ', ' ORDER BY _mlm_record) AS records
                      FROM t GROUP BY {key} HAVING count(*) > 1)
                SELECT t._i, t._mlm_record, g.n, g.conflict, g.first, g.records FROM t JOIN g USING ({key})
                ORDER BY t._i""")
        verdicts = {}
        for i, record, n, conflict, first, records in rows:
            label = "/".join(table.key)
            if conflict:
                verdicts[i] = ("conflicting_duplicate", f"{label} appears {n} times with different values "
                                                        f"(records {records}); none is loaded")
            elif record != first:
                verdicts[i] = ("duplicate_row", f"an exact copy of record {first}")
        return _split(accepted, verdicts, raw)

    def _duplicate_emails(self, accepted: pa.Table, raw: sources.Raw) -> tuple[pa.Table, pa.Table]:
        if (self.mapping.policy.duplicate_emails == "allow" or "email" not in accepted.column_names
                or accepted.column("email").null_count == accepted.num_rows):
            return accepted, cleansing.QUARANTINE_SCHEMA.empty_table()
        indexed = accepted.select(["member_id", "email", "_mlm_record"]).append_column(
            "_i", _row_numbers(accepted.num_rows))
        with registered(self._db, "_mlm_acc", indexed):
            rows = self.store._rows("""
                SELECT _i, first_value(member_id) OVER w, first_value(_mlm_record) OVER w, row_number() OVER w
                FROM _mlm_acc WHERE email IS NOT NULL
                WINDOW w AS (PARTITION BY email ORDER BY _mlm_record)
                QUALIFY count(*) OVER (PARTITION BY email) > 1""")
        verdicts = {i: ("duplicate_email", f"the same e-mail as member {m!r} (record {r}); "
                                           f"set policy.duplicate_emails = 'allow' to load both")
                    for i, m, r, k in rows if k > 1}
        verdicts.update({i: v for i, v in self._stored_emails(accepted).items() if i not in verdicts})
        return _split(accepted, verdicts, raw)

    def _stored_emails(self, accepted: pa.Table) -> dict[int, tuple[str, str]]:
        """Rows whose e-mail a stored member has: found through the keyed lookup digests of the KYC table,
        computed under each key id the stored digests use (several during a key rotation)."""
        key_ids = [k for (k,) in self.store._rows("SELECT DISTINCT key_id FROM kyc WHERE field = 'email'")]
        if not key_ids or self.keys is None:
            return {}
        emails = accepted.column("email").to_pylist()
        rows = [(i, e) for i, e in enumerate(emails) if e is not None]
        found: dict[int, tuple[str, str]] = {}
        for key_id in key_ids:
            if key_id not in self.keys.key_ids:
                raise MigrationError(f"stored e-mails are indexed under key {key_id!r}, which the given key ring "
                                     f"does not hold: pass it too, or rotate first")
            probe = pa.table({"_i": pa.array([i for i, _ in rows], pa.int64()),
                              "lookup": pa.array([self.keys.lookup(e, column="email", key_id=key_id)
                                                  for _, e in rows], pa.binary())})
            with registered(self._db, "_mlm_probe", probe):
                hits = self.store._rows("SELECT p._i, k.member_id FROM _mlm_probe p JOIN kyc k ON k.lookup = p.lookup "
                                        "AND k.field = 'email' AND k.key_id = ? ORDER BY 1", [key_id])
            for i, member in hits:
                found.setdefault(i, ("duplicate_email", f"the same e-mail as stored member {member!r}; set "
                                                        f"policy.duplicate_emails = 'allow' to load both"))
        return found

    def _against_store(self, table: Table, accepted: pa.Table, raw: sources.Raw) -> tuple[pa.Table, pa.Table]:
        """Keys already stored by an earlier batch: ``already_stored`` when equal, else
        ``conflicts_with_stored``; stored rows are never changed by a migration."""
        if not self.store._rows(f"SELECT 1 FROM {table.name} LIMIT 1"):
            return accepted, cleansing.QUARANTINE_SCHEMA.empty_table()
        key = " AND ".join(f"a.{k} = t.{k}" for k in table.key)
        fields = [f.name for f in table.stored_fields if f.name in accepted.column_names]
        same = " AND ".join(f"a.{f} IS NOT DISTINCT FROM t.{f}" for f in fields)
        indexed = accepted.append_column("_i", _row_numbers(accepted.num_rows))
        with registered(self._db, "_mlm_acc", indexed):
            rows = self.store._rows(f"SELECT a._i, {same}, t.batch_id FROM _mlm_acc a JOIN {table.name} t ON {key}")
        pii_differs = self._kyc_differs(table, accepted, [i for i, eq, _ in rows if eq])
        verdicts = {i: (("already_stored", f"identical to the row stored by batch {b}") if eq and i not in pii_differs
                        else ("conflicts_with_stored", f"its key is stored by batch {b} with other values"
                              f"{pii_differs.get(i, '')}; stored rows are never changed"))
                    for i, eq, b in rows}
        return _split(accepted, verdicts, raw)

    def _kyc_differs(self, table: Table, accepted: pa.Table, rows: list[int]) -> dict[int, str]:
        """For members already stored with equal tree fields: which ones differ in a KYC field (decrypted
        for the comparison, never written out)."""
        if not table.pii or not rows or self.keys is None:
            return {}
        out = {}
        fields = [f for f in table.pii if f in accepted.column_names]
        for i in rows:
            given = {f: accepted.column(f)[i].as_py() for f in fields}
            member = accepted.column("member_id")[i].as_py()
            stored = pii.read_kyc(self.store, member, self.keys)
            differ = [f for f in fields if given[f] != stored.get(f)]
            if differ:
                out[i] = f" (KYC {', '.join(differ)})"
        return out

    def _member_refs(self, table: Table, accepted: pa.Table, raw: sources.Raw) -> tuple[pa.Table, pa.Table]:
        ref = next((f.name for f in table.fields if f.member_ref), None)
        if ref is None:
            return accepted, cleansing.QUARANTINE_SCHEMA.empty_table()
        indexed = accepted.select([ref]).append_column("_i", _row_numbers(accepted.num_rows))
        with registered(self._db, "_mlm_acc", indexed):
            rows = self.store._rows(f"SELECT a._i, a.{ref} FROM _mlm_acc a "
                                    f"ANTI JOIN members m ON a.{ref} = m.member_id")
        verdicts = {i: ("unknown_member", f"{ref} {m!r} is no migrated member") for i, m in rows}
        return _split(accepted, verdicts, raw)

    # -- writing one batch -----------------------------------------------------------------------------

    def _write(self, source: Source, table: Table, sha: str, part: int, read: int, accepted: pa.Table,
               bad: pa.Table, attachments: pa.Table, extra: dict[str, Any], ignored: list[str]) -> BatchResult:
        store = self.store
        with store._lock:
            batch_id = int(store._rows("SELECT COALESCE(MAX(batch_id), 0) + 1 FROM migration_batches")[0][0])
            backup = self.backup_dir / f"before-batch-{batch_id:06d}.duckdb"
            store._backup(backup)
            started = _now()
            with store._transaction() as db:
                summary = self._insert(table, batch_id, accepted, attachments, extra, source.batch_rows)
                if ignored:
                    summary["ignored_columns"] = ignored
                if bad.num_rows:
                    q = self._sealed_quarantine(source, bad.select(["line", "record", "member_id", "reason",
                                                                     "detail", "raw"]), batch_id)
                    with registered(db, "_mlm_q", q):
                        db.execute("INSERT INTO quarantine SELECT ?, ?, ?, line, record, member_id, reason, detail, "
                                   "raw, raw_sealed FROM _mlm_q", [batch_id, table.name, str(source.file)])
                db.execute("INSERT INTO migration_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [batch_id, table.name, str(source.file), sha, part, read, accepted.num_rows, bad.num_rows,
                            summary.pop("checksum"), json.dumps(summary, sort_keys=True), str(backup), started,
                            _now()])
                if os.environ.get(KILL_HOOK) == str(batch_id) and os.environ.get(KILL_HOOK + "_MARKER"):
                    # Tests only: announce that the batch's rows are written, then wait for kill -9.
                    Path(os.environ[KILL_HOOK + "_MARKER"]).write_text(str(batch_id))
                    time.sleep(600)
        return BatchResult(batch_id, table.name, str(source.file), part, read, accepted.num_rows, bad.num_rows,
                           False, str(backup))

    def _personal_columns(self, source: Source) -> set[str]:
        legacy_of = cleansing.legacy_columns(source, self._header)
        return {legacy_of[f] for f in TABLES[source.table].pii if f in legacy_of and legacy_of[f] in self._header}

    def _sealed_quarantine(self, source: Source, bad: pa.Table, batch_id: int) -> pa.Table:
        """Quarantined rows of an export with personal data keep it only encrypted: the whole raw row goes
        to ``raw_sealed`` (AES-GCM, bound to quarantine/raw/<batch>:<record>), and ``raw`` keeps only the
        columns mapped to non-personal fields; every other column (personal, or unmapped and so unknown,
        such as a legacy SSN column) reads ``"<sealed>"``. A line that could not be parsed is sealed whole."""
        personal = self._personal_columns(source)
        if not personal:
            return bad.append_column("raw_sealed", pa.nulls(bad.num_rows, pa.binary()))
        assert self.keys is not None  # _load refuses an export with personal data without keys
        legacy_of = cleansing.legacy_columns(source, self._header)
        readable = {legacy_of[f.name] for f in TABLES[source.table].fields
                    if f.name in legacy_of and f.name not in TABLES[source.table].pii}
        shown, sealed = [], []
        for record, text in zip(bad.column("record").to_pylist(), bad.column("raw").to_pylist(), strict=True):
            sealed.append(self.keys.encrypt(text, table="quarantine", column="raw", member_id=f"{batch_id}:{record}"))
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict):
                shown.append(json.dumps({k: (v if k in readable or v is None else "<sealed>")
                                         for k, v in row.items()}, ensure_ascii=False))
            else:
                shown.append("<sealed: an unreadable line of an export with personal data>")
        return bad.set_column(bad.schema.get_field_index("raw"), "raw", pa.array(shown, pa.string())) \
            .append_column("raw_sealed", pa.array(sealed, pa.binary()))

    def _insert(self, table: Table, batch_id: int, accepted: pa.Table, attachments: pa.Table,
                extra: dict[str, Any], part_rows: int | None) -> dict[str, Any]:
        db = self.store._db
        fields = [f.name for f in table.stored_fields]
        rows = accepted.select(fields)
        summary: dict[str, Any] = dict(extra)
        summary["part_rows"] = part_rows
        summary["checksum"] = checksum(db, rows, table)
        summary["totals"] = totals(db, rows, table)
        if table.name == "wallet_transactions":
            ordered = rows.take(pc.sort_indices(rows, [("created_at", "ascending"), ("tx_id", "ascending")]))
            incoming = _prepare(ordered)
            # Legacy balances are what they were: the no-negative rule is for new postings, not history.
            result = self.store._post_in_transaction(incoming, f"migration-batch-{batch_id}", check_balances=False)
            summary["ledger_batch"] = result.batch_id
            # The root over the export's own rows, sealed apart from the store: the audit checks the migrated
            # table's leaves against it.
            summary["ledger_root"] = ledger.merkle_root(ledger.seal(incoming).column("leaf")).hex()
            return summary
        with_batch = rows.append_column("batch_id", pa.repeat(pa.scalar(batch_id, pa.int64()), rows.num_rows))
        with registered(db, "_mlm_rows", with_batch):
            db.execute(f"INSERT INTO {table.name} ({', '.join(with_batch.column_names)}) "
                       f"SELECT {', '.join(with_batch.column_names)} FROM _mlm_rows")
        if attachments.num_rows:
            with registered(db, "_mlm_att", attachments):
                db.execute("INSERT INTO orphan_attachments SELECT member_id, tree, legacy_parent, attached_to, leg, "
                           "reason, ? FROM _mlm_att", [batch_id])
        if table.name == "members":
            self._insert_kyc(batch_id, accepted)
        return summary

    def _insert_kyc(self, batch_id: int, accepted: pa.Table) -> None:
        present = [f for f in PII_FIELDS
                   if f in accepted.column_names and accepted.column(f).null_count < accepted.num_rows]
        if not present:
            return
        assert self.keys is not None
        keys = self.keys
        members = accepted.column("member_id").to_pylist()
        out_member, out_field, out_blob, out_value = [], [], [], []
        for f in present:
            for member, value in zip(members, accepted.column(f).to_pylist(), strict=True):
                if value is not None:
                    out_member.append(member)
                    out_field.append(f)
                    out_value.append(value)
                    out_blob.append(keys.encrypt(value, table="kyc", column=f, member_id=member))
        lookups = [keys.lookup(v, column=f) if f in LOOKUP_FIELDS else None
                   for f, v in zip(out_field, out_value, strict=True)]
        kyc = pa.table({"member_id": pa.array(out_member, pa.string()), "field": pa.array(out_field, pa.string()),
                        "ciphertext": pa.array(out_blob, pa.binary()), "lookup": pa.array(lookups, pa.binary())})
        db = self.store._db
        with registered(db, "_mlm_kyc", kyc):
            db.execute("INSERT INTO kyc SELECT member_id, field, ciphertext, ?, ?, lookup FROM _mlm_kyc",
                       [keys.current, batch_id])

    # -- rollback --------------------------------------------------------------------------------------

    def rollback(self, batch_id: int) -> list[int]:
        return rollback(self.store, batch_id)


def rollback(store: Store, batch_id: int) -> list[int]:
    """Restores the store to its state before ``batch_id``: that batch and every later one are undone (they
    were written on top of it). Returns the undone batch ids; the event is logged in ``migration_log``."""
    rows = store._rows("SELECT backup, started_at FROM migration_batches WHERE batch_id = ?", [batch_id])
    if not rows:
        known = [r[0] for r in store._rows("SELECT batch_id FROM migration_batches ORDER BY batch_id")]
        raise MigrationError(f"batch {batch_id} is not in this store (its batches: {known or 'none'})")
    if rows[0][0] is None:
        raise MigrationError(f"the backups were deleted by an erasure (they held the erased person's data); "
                             f"batch {batch_id} cannot be rolled back")
    backup, started = Path(rows[0][0]), rows[0][1]
    if not backup.is_file():
        raise MigrationError(f"the backup taken before batch {batch_id} ({backup}) is gone; cannot roll back")
    # Work that is not the migration's would be lost or undone by the restore: refuse, naming it.
    since = {
        "erasures": "SELECT count(*) FROM erasures WHERE erased_at >= ?",
        "wallet postings": "SELECT count(*) FROM ledger_checkpoints WHERE created_at >= ? "
                           "AND (run_id IS NULL OR run_id NOT LIKE 'migration-batch-%')",
        "key changes": "SELECT count(*) FROM migration_log WHERE logged_at >= ? AND event = 'pii_rotated'",
        "new keys": "SELECT count(*) FROM pii_keys WHERE created_at >= ?",
    }
    later = [f"{n} {what}" for what, q in since.items() if (n := store._rows(q, [started])[0][0])]
    if later:
        raise MigrationError(f"batch {batch_id} cannot be rolled back: {', '.join(later)} happened after it and "
                             f"would be lost with the restore")
    undone = [r[0] for r in store._rows("SELECT batch_id FROM migration_batches WHERE batch_id >= ? ORDER BY 1",
                                        [batch_id])]
    log = store._rows("SELECT logged_at, event, detail FROM migration_log ORDER BY logged_at")
    store._restore(backup)
    with store._transaction() as db:
        db.execute("DELETE FROM migration_log")
        for row in log:
            db.execute("INSERT INTO migration_log VALUES (?, ?, ?)", list(row))
        db.execute("INSERT INTO migration_log VALUES (?, 'rollback', ?)",
                   [_now(), json.dumps({"to_before_batch": batch_id, "undone": undone})])
    return undone


# -- helpers -------------------------------------------------------------------------------------------


def _row_numbers(n: int) -> pa.Array:
    return pa.array(np.arange(n, dtype=np.int64))


def _records_in(t: pa.Table, column: str, lo: int, hi: int) -> pa.Table:
    """The rows of ``t`` whose record ordinal is in ``[lo, hi)``."""
    records = t.column(column)
    return t.filter(pc.and_(pc.greater_equal(records, lo), pc.less(records, hi)))


def _with_reason_rows(rejects: pa.Table) -> pa.Table:
    return pa.table({"line": rejects.column("line"), "record": rejects.column("record"),
                     "member_id": pa.nulls(rejects.num_rows, pa.string()), "reason": rejects.column("reason"),
                     "detail": rejects.column("detail"), "raw": rejects.column("raw")},
                    schema=cleansing.QUARANTINE_SCHEMA)


def _split(accepted: pa.Table, verdicts: dict[int, tuple[str, str]], raw: sources.Raw) -> tuple[pa.Table, pa.Table]:
    """The rows without a verdict, and the quarantine rows of those with one."""
    if not verdicts:
        return accepted, cleansing.QUARANTINE_SCHEMA.empty_table()
    keep = pc.invert(pc.is_in(_row_numbers(accepted.num_rows), value_set=pa.array(sorted(verdicts), pa.int64())))
    return accepted.filter(keep), cleansing.quarantine_rows(accepted, raw, verdicts)


def checksum(db: Any, rows: pa.Table, table: Table) -> int:
    """An order-free checksum of ``rows``' canonical fields: the sum of DuckDB's hash of each row, as
    HUGEINT. The audit computes the same expression over the migrated table."""
    fields = ", ".join(f.name for f in table.stored_fields)
    with registered(db, "_mlm_sum", rows):
        query = f"SELECT COALESCE(SUM(CAST(hash({fields}) AS HUGEINT)), 0) FROM _mlm_sum"
        return int(db.execute(query).fetchall()[0][0])


TOTALS = {
    "orders": "SELECT currency, SUM(pv)::VARCHAR, SUM(bv)::VARCHAR, SUM(amount)::VARCHAR FROM {r} "
              "GROUP BY 1 ORDER BY 1",
    "commission_history": "SELECT currency, SUM(amount)::VARCHAR FROM {r} GROUP BY 1 ORDER BY 1",
    "commission_detail": "SELECT currency, bonus, count(*), SUM(amount)::VARCHAR, SUM(source_amount)::VARCHAR "
                         "FROM {r} GROUP BY ALL ORDER BY ALL",
    "carry_forward": "SELECT bonus, SUM(left_carry)::VARCHAR, SUM(right_carry)::VARCHAR FROM {r} GROUP BY 1 ORDER BY 1",
    "rank_history": "SELECT achieved_rank, paid_as_rank, count(*) FROM {r} GROUP BY ALL ORDER BY ALL",
    "wallet_transactions": "SELECT currency, SUM(amount)::VARCHAR FROM {r} GROUP BY 1 ORDER BY 1",
    "members": "SELECT status, count(*) FROM {r} GROUP BY 1 ORDER BY 1",
}


def totals(db: Any, rows: pa.Table | None, table: Table, batch_id: int | None = None) -> list[list[Any]]:
    """The table's control totals (volume and money sums, carry sums, rank counts) over the staged rows, or
    over the migrated rows of ``batch_id``: the same SQL both sides."""
    if rows is not None:
        with registered(db, "_mlm_tot", rows):
            return [list(r) for r in db.execute(TOTALS[table.name].format(r="_mlm_tot")).fetchall()]
    relation = f"(SELECT * FROM {table.name} WHERE batch_id = {int(batch_id or 0)})"
    return [list(r) for r in db.execute(TOTALS[table.name].format(r=relation)).fetchall()]


def _levels(g: Genealogy) -> dict[str, list[list[int]]]:
    out: dict[str, list[list[int]]] = {}
    trees: tuple[Literal["sponsor"], Literal["placement"]] = ("sponsor", "placement")
    for tree in trees:
        h = g.level_histogram(tree)
        out[tree] = [list(map(int, r)) for r in zip(*(h.column(c).to_pylist() for c in h.column_names), strict=True)]
    return out
