"""A slow, plain-Python reference of ledger hashing (spec: ledger-hashing.md, version 1), to check ``mlm_core`` against.

Standard library only. Rows are dicts with ``tx_id``, ``wallet_id``, ``amount``, ``currency``, ``kind``,
``created_at``, ``reference``; sealed rows also carry ``seq``, ``leaf`` and ``chain``. Each function is a direct
transcription of one rule of the spec:

- ``canonical``: ``"MLMTX" 0x01 str(tx_id) str(wallet_id) i64(amount) currency str(kind) i64(created_at) ref``;
- ``leaf_hash``: ``SHA256(0x00 canonical)``; ``chain_hash``: ``SHA256(0x02 u64(seq) previous leaf)``;
- ``merkle_root``: RFC 6962 tree hash over leaves that are already leaf hashes;
- ``seal`` numbers and chains rows per wallet in the order given; ``verify`` reports the first bad row per wallet.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

Row = dict[str, Any]
Head = tuple[int, bytes]
Problem = dict[str, Any]

ZERO = bytes(32)
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
CURRENCY = re.compile(r"[A-Z]{3}")
FIELDS = ("tx_id", "wallet_id", "amount", "currency", "kind", "created_at", "reference")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _is_int(value: object) -> bool:
    # bool is a subclass of int in Python, but True is not an int64 amount.
    return isinstance(value, int) and not isinstance(value, bool)


def _str(name: str, value: object) -> bytes:
    """``u32 length || UTF-8 bytes``; raises ValueError (without the tx_id, added by the caller)."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {type(value).__name__}")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} is not encodable as UTF-8 ({exc.reason})") from None
    if len(data) > U32_MAX:
        raise ValueError(f"{name} is longer than {U32_MAX} bytes")
    return len(data).to_bytes(4, "big") + data


def _i64(name: str, value: object) -> bytes:
    if not _is_int(value):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    assert isinstance(value, int)
    if not I64_MIN <= value <= I64_MAX:
        raise ValueError(f"{name} {value} is outside the int64 range")
    return value.to_bytes(8, "big", signed=True)


def _currency(value: object) -> bytes:
    if not isinstance(value, str) or CURRENCY.fullmatch(value) is None:
        raise ValueError(f"currency must be exactly 3 bytes matching [A-Z]{{3}}, got {value!r}")
    return value.encode("ascii")


def _field_error(row: Row) -> str | None:
    """What is wrong with the row's fields, or None; the message does not name the tx_id."""
    try:
        _canonical(row)
    except ValueError as exc:
        return str(exc)
    return None


def _canonical(row: Row) -> bytes:
    missing = [name for name in FIELDS if name not in row]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    reference = row["reference"]
    if reference is None:
        ref = b"\x00"
    elif isinstance(reference, str):
        ref = b"\x01" + _str("reference", reference)
    else:
        raise ValueError(f"reference must be a str or None, got {type(reference).__name__}")
    return (
        b"MLMTX\x01"
        + _str("tx_id", row["tx_id"])
        + _str("wallet_id", row["wallet_id"])
        + _i64("amount", row["amount"])
        + _currency(row["currency"])
        + _str("kind", row["kind"])
        + _i64("created_at", row["created_at"])
        + ref
    )


def canonical(row: Row) -> bytes:
    """The canonical bytes of a row; ValueError naming the tx_id if a field breaks a rule."""
    try:
        return _canonical(row)
    except ValueError as exc:
        raise ValueError(f"tx_id {row.get('tx_id')!r}: {exc}") from None


def leaf_hash(row: Row) -> bytes:
    return _sha256(b"\x00" + canonical(row))


def chain_hash(seq: int, previous: bytes, leaf: bytes) -> bytes:
    if not _is_int(seq) or not 0 <= seq <= U64_MAX:
        raise ValueError(f"seq {seq!r} is not a u64")
    if len(previous) != 32 or len(leaf) != 32:
        raise ValueError("previous chain and leaf must be 32 bytes each")
    return _sha256(b"\x02" + seq.to_bytes(8, "big") + bytes(previous) + bytes(leaf))


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes (not hashed again): {} -> SHA256(""), {d} -> d, else split at k < n."""
    n = len(leaves)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return bytes(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))


def _check_head(wallet_id: object, head: object) -> Head:
    ok = (
        isinstance(head, tuple)
        and len(head) == 2
        and _is_int(head[0])
        and 0 <= head[0] <= U64_MAX
        and isinstance(head[1], bytes)
        and len(head[1]) == 32
    )
    if not ok:
        raise ValueError(f"head of wallet {wallet_id!r} must be (seq: u64 int, chain: 32 bytes), got {head!r}")
    assert isinstance(head, tuple)
    return head[0], head[1]


def seal(rows: list[Row], heads: dict[str, Head] | None = None) -> list[Row]:
    """Copies of ``rows``, in the given order, with ``seq``, ``leaf`` and ``chain`` added.

    ``heads`` maps wallet_id -> (seq, chain) of published heads that this batch continues; other wallets start
    at (0, 32 zero bytes). ValueError naming the tx_id on a repeated tx_id or a broken field rule.
    """
    state: dict[str, Head] = {wallet: _check_head(wallet, head) for wallet, head in (heads or {}).items()}
    seen: set[str] = set()
    out: list[Row] = []
    for row in rows:
        leaf = _sha256(b"\x00" + canonical(row))
        tx_id, wallet_id = row["tx_id"], row["wallet_id"]
        if tx_id in seen:
            raise ValueError(f"tx_id {tx_id!r}: repeated in the batch")
        seen.add(tx_id)
        previous_seq, previous_chain = state.get(wallet_id, (0, ZERO))
        seq = previous_seq + 1
        if seq > U64_MAX:
            raise ValueError(f"tx_id {tx_id!r}: seq of wallet {wallet_id!r} overflows u64")
        chain = chain_hash(seq, previous_chain, leaf)
        state[wallet_id] = (seq, chain)
        sealed = dict(row)
        sealed.update(seq=seq, leaf=leaf, chain=chain)
        out.append(sealed)
    return out


def _seal_columns_error(row: Row) -> str | None:
    """What is wrong with the stored seq/leaf/chain of a sealed row (missing or of the wrong type), or None."""
    seq = row.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= U64_MAX:
        return f"seq must be a u64 int, got {seq!r}"
    for name in ("leaf", "chain"):
        value = row.get(name)
        if not isinstance(value, bytes) or len(value) != 32:
            return f"{name} must be 32 bytes, got {value!r}"
    return None


def _problem(tx_id: object, wallet_id: object, code: str, detail: str) -> Problem:
    return {"tx_id": tx_id, "wallet_id": wallet_id, "code": code, "detail": detail}


def verify(
    sealed: list[Row],
    *,
    start_heads: dict[str, Head] | None = None,
    published_heads: dict[str, Head] | None = None,
    published_root: bytes | None = None,
) -> dict[str, Any]:
    """Recompute every leaf and chain; report the first bad row per wallet, then heads, then the root.

    Returns ``{"problems": [...], "heads": {wallet_id: (seq, chain)}, "root": bytes}``. ``heads`` holds the last
    stored (seq, chain) of every wallet seen, in first-appearance order; ``root`` is the Merkle root of the stored
    leaves in row order. Rows of a wallet after its first problem are not checked but still count for both.
    """
    start: dict[Any, Head] = {wallet: _check_head(wallet, head) for wallet, head in (start_heads or {}).items()}
    problems: list[Problem] = []
    previous: dict[Any, tuple[Any, Any]] = {}  # wallet -> (stored seq, stored chain) of its last row so far
    last_tx: dict[Any, Any] = {}  # wallet -> tx_id of its last row
    failed: set[Any] = set()
    first_row: dict[str, int] = {}  # tx_id -> index of the first row that carries it
    stored_leaves: list[bytes] = []

    for index, row in enumerate(sealed):
        tx_id, wallet_id = row.get("tx_id"), row.get("wallet_id")
        leaf = row.get("leaf")
        if not isinstance(leaf, bytes):
            raise ValueError(f"row {index} (tx_id {tx_id!r}): stored leaf must be bytes, got {leaf!r}")
        stored_leaves.append(leaf)
        earlier = first_row.get(tx_id) if isinstance(tx_id, str) else None
        if isinstance(tx_id, str) and earlier is None:
            first_row[tx_id] = index

        if wallet_id not in failed:
            expected_seq, expected_chain = previous.get(wallet_id, start.get(wallet_id, (0, ZERO)))
            error = _field_error(row) or _seal_columns_error(row)
            found: tuple[str, str] | None = None
            if error is not None:
                found = ("bad_field", error)
            elif earlier is not None:
                found = ("duplicate_tx_id", f"tx_id also on row {earlier}")
            elif row["seq"] != expected_seq + 1:
                found = ("sequence_gap", f"expected seq {expected_seq + 1}, found {row['seq']}")
            else:
                recomputed = leaf_hash(row)
                if recomputed != leaf:
                    found = ("leaf_mismatch", "row fields do not hash to the stored leaf")
                elif chain_hash(row["seq"], expected_chain, recomputed) != row["chain"]:
                    found = ("chain_mismatch", f"chain at seq {row['seq']} does not follow from the previous chain")
            if found is not None:
                problems.append(_problem(tx_id, wallet_id, *found))
                failed.add(wallet_id)

        previous[wallet_id] = (row.get("seq"), row.get("chain"))
        last_tx[wallet_id] = tx_id

    for wallet_id, head in (published_heads or {}).items():
        seq, chain = _check_head(wallet_id, head)
        if wallet_id in failed:
            continue
        if wallet_id not in previous:
            if start.get(wallet_id) == (seq, chain):
                continue  # no rows: the wallet ends where it started
            problems.append(
                _problem(None, wallet_id, "head_mismatch", f"wallet has no rows; published head is seq {seq}")
            )
            continue
        stored_seq, stored_chain = previous[wallet_id]
        if stored_seq != seq:
            detail = f"ledger ends at seq {stored_seq}, published head is seq {seq}"
        elif stored_chain != chain:
            detail = f"chain differs from the published head at seq {seq}"
        else:
            continue
        problems.append(_problem(last_tx[wallet_id], wallet_id, "head_mismatch", detail))

    # A stored leaf that is not 32 bytes (already a bad_field) counts as 32 zero bytes in the root.
    root = merkle_root([leaf if len(leaf) == 32 else ZERO for leaf in stored_leaves])
    if published_root is not None and bytes(published_root) != root:
        problems.append(_problem(None, None, "root_mismatch", "batch root differs from the published root"))
    return {"problems": problems, "heads": dict(previous), "root": root}


def ok(report: dict[str, Any]) -> bool:
    return not report["problems"]
