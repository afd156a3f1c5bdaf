//! Ledger hashing over Arrow columns: `seal`, `verify`, `merkle_root` (`ledger-hashing.md`).
use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Int64Array, StringArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;
use arrow::pyarrow::ToPyArrow;
use mlm_kernel::ledger::{self, Hash, Head, Stored, Transactions};
use mlm_kernel::{KeyColumn, StrKeys};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rustc_hash::FxHashMap;

use crate::arrow_in::{import_array, int64_values, validity};
use crate::errors::{input_error, run_detached};

fn strings<'a>(py: Python<'_>, array: &'a ArrayRef, what: &str) -> PyResult<StrKeys<'a, i32>> {
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(|e| crate::errors::to_py_err(py, e))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(|e| crate::errors::to_py_err(py, e))
        }
        other => Err(input_error(py, format!("{what} must be string (binary for hashes), not {other}"))),
    }
}

fn import_all(py: Python<'_>, columns: &Bound<'_, PyList>) -> PyResult<Vec<ArrayRef>> {
    columns.iter().enumerate().map(|(i, c)| import_array(py, &c, &format!("ledger column {i}"))).collect()
}

fn transactions<'a>(py: Python<'_>, arrays: &'a [ArrayRef]) -> PyResult<Transactions<'a>> {
    if arrays.len() != 7 {
        return Err(input_error(py, "seal takes tx_id, wallet_id, amount, currency, kind, created_at, reference"));
    }
    Ok(Transactions {
        tx_id: strings(py, &arrays[0], "tx_id")?,
        wallet_id: strings(py, &arrays[1], "wallet_id")?,
        amount: int64_values(py, &arrays[2], "amount")?,
        currency: strings(py, &arrays[3], "currency")?,
        kind: strings(py, &arrays[4], "kind")?,
        created_at: int64_values(py, &arrays[5], "created_at")?,
        reference: strings(py, &arrays[6], "reference")?,
    })
}

/// `(wallet_id, seq, chain)` arrays into a map; a seq below zero or a chain not 32 bytes is an InputError.
fn heads<'a>(py: Python<'_>, arrays: &'a [ArrayRef]) -> PyResult<Vec<(&'a [u8], Head)>> {
    if arrays.is_empty() {
        return Ok(Vec::new());
    }
    let wallets = strings(py, &arrays[0], "heads.wallet_id")?;
    let seq = int64_values(py, &arrays[1], "heads.seq")?;
    let chain = strings(py, &arrays[2], "heads.chain")?;
    if wallets.len() != seq.len() || chain.len() != seq.len() {
        return Err(input_error(py, "heads columns must have the same length"));
    }
    (0..seq.len())
        .map(move |i| {
            let wallet = wallets.value(i).ok_or_else(|| input_error(py, format!("heads row {i} has no wallet_id")))?;
            let chain: Hash = chain.value(i)
                .and_then(|c| c.try_into().ok())
                .ok_or_else(|| input_error(py, format!("heads row {i}: chain must be 32 bytes")))?;
            let seq = u64::try_from(seq[i]).map_err(|_| input_error(py, format!("heads row {i}: seq is negative")))?;
            Ok((wallet, Head { seq, chain }))
        })
        .collect()
}

fn head_map<'a>(py: Python<'_>, list: &[(&'a [u8], Head)]) -> PyResult<FxHashMap<&'a [u8], Head>> {
    let mut map = FxHashMap::default();
    for (i, &(wallet, head)) in list.iter().enumerate() {
        if map.insert(wallet, head).is_some() {
            return Err(input_error(py, format!("heads row {i} repeats wallet {}", String::from_utf8_lossy(wallet))));
        }
    }
    Ok(map)
}

/// 32-byte hashes as one binary array, without a copy per value.
fn hash_array(py: Python<'_>, hashes: Vec<Hash>) -> PyResult<Py<PyAny>> {
    let n = hashes.len();
    let bytes: Vec<u8> = hashes.into_flattened();
    let offsets = OffsetBuffer::new(ScalarBuffer::from((0..=n as i32).map(|i| i * 32).collect::<Vec<i32>>()));
    let array = BinaryArray::new(offsets, Buffer::from_vec(bytes), None);
    Ok(array.into_data().to_pyarrow(py)?.unbind())
}

#[pyfunction]
pub fn ledger_seal(py: Python<'_>, columns: &Bound<'_, PyList>, head_columns: &Bound<'_, PyList>) -> PyResult<Py<PyAny>> {
    let arrays = import_all(py, columns)?;
    let head_arrays = import_all(py, head_columns)?;
    let t = transactions(py, &arrays)?;
    let head_list = heads(py, &head_arrays)?;
    let start = head_map(py, &head_list)?;
    let sealed = run_detached(py, || ledger::seal(&t, &start))?;
    let out = PyDict::new(py);
    out.set_item("seq", Int64Array::from(sealed.seq).into_data().to_pyarrow(py)?)?;
    out.set_item("leaf", hash_array(py, sealed.leaf)?)?;
    out.set_item("chain", hash_array(py, sealed.chain)?)?;
    Ok(out.into_any().unbind())
}

#[pyfunction]
pub fn ledger_merkle_root(py: Python<'_>, leaves: &Bound<'_, PyAny>) -> PyResult<Py<PyBytes>> {
    let array = import_array(py, leaves, "leaves")?;
    let view = strings(py, &array, "leaves")?;
    let Some(hashes) = ledger::fixed_hashes(&view) else {
        let bad = (0..view.len()).find(|&i| view.get(i).is_none_or(|b| b.len() != 32)).unwrap_or(0);
        return Err(input_error(py, format!("leaf {bad} is not 32 bytes")));
    };
    let root = run_detached(py, || Ok(ledger::merkle_root(hashes)))?;
    Ok(PyBytes::new(py, &root).unbind())
}

#[pyfunction]
#[pyo3(signature = (columns, seq, leaf, chain, start_heads, published_heads, published_root = None))]
#[allow(clippy::too_many_arguments)]
pub fn ledger_verify(
    py: Python<'_>,
    columns: &Bound<'_, PyList>,
    seq: &Bound<'_, PyAny>,
    leaf: &Bound<'_, PyAny>,
    chain: &Bound<'_, PyAny>,
    start_heads: &Bound<'_, PyList>,
    published_heads: &Bound<'_, PyList>,
    published_root: Option<Vec<u8>>,
) -> PyResult<Py<PyAny>> {
    let arrays = import_all(py, columns)?;
    let t = transactions(py, &arrays)?;
    let seq = import_array(py, seq, "seq")?;
    let leaf = import_array(py, leaf, "leaf")?;
    let chain = import_array(py, chain, "chain")?;
    let stored = Stored { seq: int64_values(py, &seq, "seq")?, leaf: strings(py, &leaf, "leaf")?, chain: strings(py, &chain, "chain")? };
    let start_arrays = import_all(py, start_heads)?;
    let start_list = heads(py, &start_arrays)?;
    let start = head_map(py, &start_list)?;
    let published_arrays = import_all(py, published_heads)?;
    let published = heads(py, &published_arrays)?;
    head_map(py, &published)?;
    let root: Option<Hash> = match published_root {
        None => None,
        Some(bytes) => Some(bytes.try_into().map_err(|_| input_error(py, "published_root must be 32 bytes"))?),
    };
    let verified = run_detached(py, || ledger::verify(&t, &stored, &start, &published, root))?;
    let out = PyDict::new(py);
    let rows: Vec<Option<i64>> = verified.findings.iter().map(|f| f.row.map(|r| r as i64)).collect();
    out.set_item("row", Int64Array::from(rows).into_data().to_pyarrow(py)?)?;
    let wallets: Vec<Option<String>> =
        verified.findings.iter().map(|f| f.wallet.as_ref().map(|w| String::from_utf8_lossy(w).into_owned())).collect();
    out.set_item("wallet_id", StringArray::from(wallets).into_data().to_pyarrow(py)?)?;
    out.set_item("code", StringArray::from(verified.findings.iter().map(|f| f.problem.as_str()).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    out.set_item("detail", StringArray::from(verified.findings.iter().map(|f| f.detail.as_str()).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    out.set_item("head_row", Int64Array::from(verified.heads.iter().map(|&r| r as i64).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    out.set_item("root", PyBytes::new(py, &verified.root))?;
    Ok(out.into_any().unbind())
}
