//! The one place where kernel errors become Python exceptions (`mlm_core.errors`), variant by variant.
use mlm_kernel::KernelError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    raise_with(py, class, message, None)
}

fn raise_with(py: Python<'_>, class: &str, message: String, row: Option<usize>) -> PyErr {
    let kwargs = pyo3::types::PyDict::new(py);
    if let Some(row) = row {
        if let Err(err) = kwargs.set_item("row", row) {
            return err;
        }
    }
    match py.import("mlm_core.errors").and_then(|m| m.getattr(class)) {
        Ok(cls) => PyErr::from_value(match cls.call((message.clone(),), Some(&kwargs)) {
            Ok(instance) => instance,
            Err(err) => return err,
        }),
        Err(_) => PyRuntimeError::new_err(message),
    }
}

pub fn to_py_err(py: Python<'_>, err: KernelError) -> PyErr {
    match err {
        KernelError::Genealogy { .. } => raise(py, "GenealogyError", err.to_string()),
        KernelError::InvalidInput { message } => raise(py, "InputError", message),
        KernelError::UnknownIds { message, rows } => {
            let err = raise(py, "InputError", message);
            let _ = err.value(py).setattr("rows", rows);
            err
        }
        KernelError::Plan { message } => raise(py, "PlanError", message),
        KernelError::Ledger { message, row } => raise_with(py, "LedgerError", message, row),
        KernelError::Overflow { row, .. } => raise_with(py, "AmountOverflowError", err.to_string(), row),
    }
}

/// An input problem found in the binding itself (wrong Arrow type, nulls where none may be).
pub fn input_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InputError", message.into())
}

/// Runs a kernel with the GIL released. A kernel error becomes its Python exception; a panic (a bug:
/// kernels return errors for every bad input) becomes `mlm_core.errors.InternalError` instead of
/// unwinding into Python.
pub fn run_detached<T: Send>(
    py: Python<'_>,
    kernel: impl FnOnce() -> Result<T, KernelError> + Send,
) -> PyResult<T> {
    match py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(kernel))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_py_err(py, err)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(raise(py, "InternalError", format!("mlm_core kernel failed (a bug, please report it): {what}")))
        }
    }
}
