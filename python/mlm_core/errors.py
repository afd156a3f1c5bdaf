"""The exception hierarchy: every error of the library is an :class:`MlmCoreError` (a ``ValueError``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


class MlmCoreError(ValueError):
    """Base class of every error raised by mlm_core."""


class InputError(MlmCoreError):
    """Input of the wrong shape or type: a missing column, a float where integers belong, nulls.

    ``column`` names the offending column when there is one; ``rows`` lists offending row numbers.
    """

    def __init__(self, message: str, *, column: str | None = None, rows: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.column = column
        self.rows = list(rows)


class GenealogyError(MlmCoreError):
    """The member table cannot form whole sponsor and placement trees.

    ``report`` is the full validation report, the same table :func:`mlm_core.validate_genealogy` returns:
    ``(row, member_id, code, severity, detail)``.
    """

    def __init__(self, message: str, report: pa.Table | None = None) -> None:
        super().__init__(message)
        self.report = report


class PlanError(MlmCoreError):
    """A plan file that is not a valid plan. ``key`` names the offending key, e.g. ``ranks[2].leg_rank``."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class AmountOverflowError(MlmCoreError, OverflowError):
    """An amount or volume left the int64 range: money never wraps around. ``row`` is the member row
    where the sum overflowed, when known."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


class LedgerError(MlmCoreError):
    """A ledger row or posting breaks a rule of the ledger (``ledger-hashing.md``): a repeated ``tx_id``, a
    field rule, the same ``tx_id`` posted with other fields, a balance that may not go below zero.
    ``row`` is the input row when known, ``tx_id`` the transaction."""

    def __init__(self, message: str, *, row: int | None = None, tx_id: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.tx_id = tx_id


class InternalError(MlmCoreError):
    """A kernel failed in a way it never should (a bug in mlm_core, not in the input): please report it."""


class StoreError(MlmCoreError):
    """The e-wallet store cannot do what was asked of its database: the file is open by another writer
    process, cannot be opened, or DuckDB refused a write (nothing was written then)."""


class MappingError(MlmCoreError):
    """A migration mapping file that cannot be used. ``key`` names the offending key, e.g.
    ``tables.members.columns.leg``."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class MigrationError(MlmCoreError):
    """A migration step that cannot go on: a source file that cannot be read at all, a batch to roll back
    that does not exist, a key that cannot decrypt. Nothing of the step was written."""


class PiiError(MlmCoreError):
    """A KYC value that cannot be decrypted: wrong key, unknown key id, a ciphertext moved to another member
    or column, or tampered bytes."""
