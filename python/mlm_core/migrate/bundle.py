"""Export bundles: the store's tables as Parquet files with a manifest, personal data only as ciphertext.

``export_bundle(store, folder)`` writes one Parquet file per table (canonical tables, KYC ciphertexts,
quarantine with sealed raw rows, the ledger with its hashes and checkpoints, the migration bookkeeping) and
``manifest.json`` with each file's row count and SHA-256, so a receiver can check the bundle is whole. KYC
values never appear in plain text: the KYC file carries the AES-GCM ciphertexts as stored, which decrypt
only with the key ring and only for their own member and field (:mod:`mlm_core.pii`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..store import Store
from .canonical import LOAD_ORDER
from .sources import file_sha256

TABLES = (*LOAD_ORDER, "kyc", "pii_keys", "erasures", "quarantine", "orphan_attachments", "migration_batches",
          "migration_log", "ledger_checkpoints", "wallets")
FORMAT = "mlm_core-bundle/1"


def export_bundle(store: Store, folder: str | os.PathLike[str]) -> Path:
    """Writes the bundle into ``folder`` (created; existing bundle files are replaced) and returns the
    manifest's path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for name in TABLES:
        table = store._table(f"SELECT * FROM {name}")
        path = out / f"{name}.parquet"
        pq.write_table(table, path)
        files[path.name] = {"table": name, "rows": table.num_rows, "sha256": file_sha256(path)}
    manifest = out / "manifest.json"
    manifest.write_text(json.dumps({"format": FORMAT, "created_at_us": time.time_ns() // 1000, "files": files},
                                   indent=2, sort_keys=True), encoding="utf-8")
    return manifest


def verify_bundle(folder: str | os.PathLike[str]) -> list[str]:
    """Problems of a bundle (a file missing, changed or with another row count); empty when it is whole."""
    root = Path(folder)
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"manifest.json: unreadable ({exc})"]
    problems = []
    for name, entry in files.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        if file_sha256(path) != entry["sha256"]:
            problems.append(f"{name}: SHA-256 differs from the manifest")
        elif pq.read_metadata(path).num_rows != entry["rows"]:
            problems.append(f"{name}: {pq.read_metadata(path).num_rows} rows, the manifest says {entry['rows']}")
    return problems
