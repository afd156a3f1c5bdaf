"""mlm_core: the commission compute core of a direct-selling company.

Exact to the cent (integers end to end), audit-ready, and fast: Rust kernels over Arrow arrays.
"""

from ._mlm_core import __version__
from .errors import AmountOverflowError, GenealogyError, InputError, MlmCoreError
from .genealogy import Genealogy, validate_genealogy

__all__ = [
    "AmountOverflowError",
    "Genealogy",
    "GenealogyError",
    "InputError",
    "MlmCoreError",
    "__version__",
    "validate_genealogy",
]
