"""mlm_core: the commission compute core of a direct-selling company.

Exact to the cent (integers end to end), audit-ready, and fast: Rust kernels over Arrow arrays.
"""

from . import ledger
from ._mlm_core import __version__
from .engine import PeriodResult, run_period
from .errors import AmountOverflowError, GenealogyError, InputError, LedgerError, MlmCoreError, PlanError
from .genealogy import Genealogy, validate_genealogy
from .periods import assemble_periods
from .plan import Plan

__all__ = [
    "AmountOverflowError",
    "Genealogy",
    "GenealogyError",
    "InputError",
    "LedgerError",
    "MlmCoreError",
    "PeriodResult",
    "Plan",
    "PlanError",
    "__version__",
    "assemble_periods",
    "ledger",
    "run_period",
    "validate_genealogy",
]
