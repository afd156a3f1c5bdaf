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
        KernelError::Overflow { row, .. } => raise_with(py, "AmountOverflowError", err.to_string(), row),
    }
}

/// An input problem found in the binding itself (wrong Arrow type, nulls where none may be).
pub fn input_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InputError", message.into())
}
