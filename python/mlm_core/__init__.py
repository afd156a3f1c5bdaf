"""mlm_core: the commission compute core of a direct-selling company.

Exact to the cent (integers end to end), audit-ready, and fast: Rust kernels over Arrow arrays.
"""

from . import ledger, legacy, pii
from ._mlm_core import __version__
from .engine import PeriodResult, run_period
from .errors import (
                     AmountOverflowError,
                     GenealogyError,
                     InputError,
                     LedgerError,
                     MappingError,
                     MigrationError,
                     MlmCoreError,
                     PiiError,
                     PlanError,
                     StoreError,
)
from .genealogy import Genealogy, validate_genealogy
from .migrate.audit import audit
from .migrate.mapping import Mapping
from .migrate.run import Migration, rollback
from .parallel import ParallelRun, parallel_run
from .periods import assemble_periods
from .pii import KeyRing
from .plan import Plan
from .projection import Projection
from .reconciliation import Reconciliation, reconcile
from .store import Store

__all__ = [
    "AmountOverflowError",
    "Genealogy",
    "GenealogyError",
    "InputError",
    "KeyRing",
    "LedgerError",
    "Mapping",
    "MappingError",
    "Migration",
    "MigrationError",
    "MlmCoreError",
    "ParallelRun",
    "PeriodResult",
    "PiiError",
    "Plan",
    "PlanError",
    "Projection",
    "Reconciliation",
    "Store",
    "StoreError",
    "__version__",
    "assemble_periods",
    "audit",
    "ledger",
    "legacy",
    "parallel_run",
    "pii",
    "reconcile",
    "rollback",
    "run_period",
    "validate_genealogy",
]
