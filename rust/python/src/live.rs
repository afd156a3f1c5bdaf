//! `LiveCore`: the Rust side of `mlm_core.Projection`. Writers apply event batches under one lock with
//! the GIL released; a recomputation copies the state under that lock, computes without it and
//! publishes an immutable view; readers take the published view (a pointer copy) and never wait for
//! either.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int16Array};
use arrow::datatypes::{ArrowPrimitiveType, DataType, UInt32Type, UInt8Type};
use arrow::pyarrow::ToPyArrow;
use mlm_kernel::engine::{PlanSpec, NO_VALUE};
use mlm_kernel::live::{Batch, Carried, LiveState, Rejection, View};
use mlm_kernel::{Genealogy, KernelError, KeyColumn, StrKeys};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::arrow_in::{import_array, int64_values, trusted_id_column, validity, IdColumn};
use crate::engine::{bools, u16s, PlanCore};
use crate::errors::{input_error, run_detached};
use crate::genealogy::{int64_array, GenealogyCore};

struct Writer {
    live: LiveState,
    genealogy: Arc<Genealogy>,
    member_id: ArrayRef,
    carried: Arc<Carried>,
}

/// What `apply` returns: the last sequence number, and per rejected row its code and detail.
type Applied = (u64, Vec<usize>, Vec<&'static str>, Vec<u64>);

struct Published {
    view: View,
    member_id: ArrayRef,
}

/// Names the answers use, fixed with the plan: Python strings made once, not on every answer.
struct Names {
    ranks: Vec<Py<PyString>>,
    bonuses: Vec<Py<PyString>>,
    columns: Vec<Py<PyString>>,
}

fn py_strings(py: Python<'_>, names: &[String]) -> Vec<Py<PyString>> {
    names.iter().map(|n| PyString::new(py, n).unbind()).collect()
}

#[pyclass(frozen, module = "mlm_core._mlm_core")]
pub struct LiveCore {
    plan: PlanSpec,
    names: Names,
    writer: Mutex<Writer>,
    view: Mutex<Option<Arc<Published>>>,
    /// One recomputation at a time, and the view it updates next.
    refreshing: Mutex<Refresher>,
    seq: AtomicU64,
    /// Views published: computed whole, and updated.
    whole_views: AtomicU64,
    updated_views: AtomicU64,
}

/// The threads recomputations run on: a pool of their own at a lower scheduling priority (nice 10), so
/// that reader and writer threads, which wake for microseconds, get a core at once instead of waiting for
/// a recomputation's time slice. Without the pool (it could not start) the global one serves.
fn background_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("mlm-recompute-{i}"))
            .start_handler(|_| {
                // SAFETY: setpriority on the calling thread (who = 0: on Linux, per thread) only lowers
                // its priority; a failure leaves it as it was.
                #[cfg(target_os = "linux")]
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS as _, 0, 10);
                }
            })
            .build()
            .ok()
    })
    .as_ref()
}

fn poisoned() -> KernelError {
    KernelError::InvalidInput { message: "a live projection's lock was poisoned by an earlier failure".into() }
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, KernelError> {
    m.lock().map_err(|_| poisoned())
}

fn primitive<T: ArrowPrimitiveType>(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<ArrayRef> {
    let array = import_array(py, value, what)?;
    if array.data_type() != &T::DATA_TYPE || array.null_count() > 0 {
        return Err(input_error(py, format!("{what} must be {} without nulls, not {}", T::DATA_TYPE, array.data_type())));
    }
    Ok(array)
}

fn i16_array(py: Python<'_>, values: &[u16]) -> PyResult<Py<PyAny>> {
    let array: Int16Array = values.iter().map(|&v| if v == NO_VALUE { -1 } else { v as i16 }).collect();
    Ok(array.into_data().to_pyarrow(py)?.unbind())
}

fn rejection(why: Rejection) -> (&'static str, u64) {
    match why {
        Rejection::Given => ("given", 0),
        Rejection::NullEventId => ("null_event_id", 0),
        Rejection::UnknownKind => ("unknown_kind", 0),
        Rejection::NullMember => ("null_member", 0),
        Rejection::UnknownMember => ("unknown_member", 0),
        Rejection::Negative(mask) => ("negative", mask),
        Rejection::NoStatus => ("no_status", 0),
        Rejection::UnknownTier => ("unknown_tier", 0),
        Rejection::UnknownRank => ("unknown_rank", 0),
        Rejection::OtherFields(seq) => ("other_fields", seq),
        Rejection::Overflow(mask) => ("overflow", mask),
    }
}

/// Takes a genealogy with members joined (its first rows are the current ones, in the same order).
fn grow(w: &mut Writer, inner: Arc<Genealogy>, member_id: ArrayRef) -> Result<(), KernelError> {
    let n = inner.len();
    if n < w.live.len() {
        return Err(KernelError::InvalidInput { message: "a grown genealogy cannot have fewer members".into() });
    }
    w.live.grow(n);
    let mut carried = (*w.carried).clone();
    carried.grow(n);
    w.carried = Arc::new(carried);
    w.genealogy = inner;
    w.member_id = member_id;
    Ok(())
}

/// Two views take turns: one is published, the other (the one published before it) is brought up to
/// date by the rows changed since it was computed, then published in its place.
#[derive(Default)]
struct Refresher {
    /// The view to update next, and the member rows events changed since its sequence number.
    back: Option<(Arc<Published>, Vec<u32>)>,
    /// A recomputation failed after taking rows from the log: the published view lacks them, so it is
    /// not the next to update (a copy of the next view is).
    front_stale: bool,
}

/// Rows changed since a view: `None` when not all of them are known.
fn joined(before: Option<Vec<u32>>, after: Option<Vec<u32>>) -> Option<Vec<u32>> {
    let (mut before, after) = (before?, after?);
    before.extend_from_slice(&after);
    Some(before)
}

/// Runs `compute` on the recomputation pool (or here, without one).
fn in_background<T: Send>(compute: impl FnOnce() -> T + Send) -> T {
    match background_pool() {
        Some(pool) => pool.install(compute),
        None => compute(),
    }
}

impl LiveCore {
    fn published(&self) -> Option<Arc<Published>> {
        self.view.lock().ok().and_then(|v| v.clone())
    }

    /// A view computed whole over the state now, and the rows changed since the last view was taken
    /// (`before`: rows already taken since then).
    fn whole(&self, before: Option<Vec<u32>>) -> Result<(Arc<Published>, Option<Vec<u32>>), KernelError> {
        let (inputs, genealogy, member_id, carried, touched) = {
            let mut w = lock(&self.writer)?;
            let touched = w.live.take_touched();
            (w.live.inputs(), w.genealogy.clone(), w.member_id.clone(), w.carried.clone(), touched)
        };
        let view = in_background(|| {
            View::compute(genealogy, &self.plan, inputs, &carried).map(|mut view| {
                view.prepare_updates(&self.plan);
                view
            })
        })?;
        self.whole_views.fetch_add(1, Ordering::Relaxed);
        Ok((Arc::new(Published { view, member_id }), joined(before, touched)))
    }
}

#[pymethods]
impl LiveCore {
    /// `columns`: the plan's volume column names (the answers' `volumes`); `column_count`: the columns
    /// the compiled plan reads (more when it pads). `status_active`, `tier`, `rank_override` (int16, -1
    /// none) and `prev_highest` (int16) per member row; `carries` per bonus: None or `(left, right)`.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        genealogy: &GenealogyCore,
        plan: &PlanCore,
        ranks: Vec<String>,
        bonuses: Vec<String>,
        columns: Vec<String>,
        column_count: usize,
        status_active: &Bound<'_, PyAny>,
        tier: &Bound<'_, PyAny>,
        rank_override: &Bound<'_, PyAny>,
        prev_highest: &Bound<'_, PyAny>,
        carries: &Bound<'_, PyList>,
    ) -> PyResult<Self> {
        let n = genealogy.inner.len();
        let status_active = bools(py, status_active, "status_active")?;
        let tier = u16s(py, tier, "tier")?;
        let rank_override = u16s(py, rank_override, "rank_override")?;
        let prev_highest: Vec<u16> =
            u16s(py, prev_highest, "prev_highest")?.into_iter().map(|h| if h == NO_VALUE { 0 } else { h }).collect();
        let mut carry_vecs = Vec::new();
        for entry in carries.iter() {
            carry_vecs.push(if entry.is_none() {
                None
            } else {
                let (l, r): (Bound<'_, PyAny>, Bound<'_, PyAny>) = entry.extract()?;
                let (l, r) = (import_array(py, &l, "carry")?, import_array(py, &r, "carry")?);
                Some((int64_values(py, &l, "carry")?.to_vec(), int64_values(py, &r, "carry")?.to_vec()))
            });
        }
        if prev_highest.len() != n
            || carry_vecs.len() != plan.spec.bonuses.len()
            || carry_vecs.iter().flatten().any(|(l, r)| l.len() != n || r.len() != n)
            || bonuses.len() != plan.spec.bonuses.len()
            || ranks.len() != plan.spec.ranks.len()
        {
            return Err(input_error(py, "a live projection needs its per-member inputs and names aligned to the genealogy and plan"));
        }
        let live = LiveState::new(column_count.max(columns.len()), status_active, tier, rank_override).map_err(|e| crate::errors::to_py_err(py, e))?;
        if live.len() != n {
            return Err(input_error(py, "attributes must have one entry per member"));
        }
        Ok(LiveCore {
            plan: plan.spec.clone(),
            names: Names { ranks: py_strings(py, &ranks), bonuses: py_strings(py, &bonuses), columns: py_strings(py, &columns) },
            writer: Mutex::new(Writer {
                live,
                genealogy: genealogy.inner.clone(),
                member_id: genealogy.member_id.clone(),
                carried: Arc::new(Carried { prev_highest, carries: carry_vecs }),
            }),
            view: Mutex::new(None),
            refreshing: Mutex::new(Refresher::default()),
            seq: AtomicU64::new(0),
            whole_views: AtomicU64::new(0),
            updated_views: AtomicU64::new(0),
        })
    }

    /// Views published so far: (computed whole, updated).
    fn refreshes(&self) -> (u64, u64) {
        (self.whole_views.load(Ordering::Relaxed), self.updated_views.load(Ordering::Relaxed))
    }

    /// The sequence number of the last applied event.
    fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// The sequence number of the published view, None before the first.
    fn view_seq(&self) -> Option<u64> {
        self.published().map(|p| p.view.seq())
    }

    /// Member rows of `ids` (same type as the member ids) in the current genealogy: 2**32-1 for a null
    /// id, 2**32-2 for an id that is no member.
    fn rows(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let ids = import_array(py, ids, "member_id")?;
        let (genealogy, member_id) = {
            let w = py.detach(|| lock(&self.writer).map(|w| (w.genealogy.clone(), w.member_id.clone())));
            w.map_err(|e| crate::errors::to_py_err(py, e))?
        };
        let rows = crate::genealogy::member_rows(py, &genealogy, &member_id, &ids, "event member ids", true)?;
        Ok(arrow::array::UInt32Array::from(rows).into_data().to_pyarrow(py)?.unbind())
    }

    /// The sequence number each event id was applied as (0: not applied).
    fn seqs_of(&self, py: Python<'_>, event_id: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
        let ids = import_array(py, event_id, "event_id")?;
        if ids.data_type() != &DataType::Utf8 {
            return Err(input_error(py, "event_id must be a string array"));
        }
        let a = ids.as_string::<i32>();
        let keys = StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(|e| crate::errors::to_py_err(py, e))?;
        run_detached(py, || {
            let w = lock(&self.writer)?;
            Ok((0..keys.len()).map(|i| keys.value(i).and_then(|k| w.live.seq_of(k)).unwrap_or(0)).collect())
        })
    }

    /// Applies one batch (see `mlm_kernel::live::Batch`); returns the last sequence number and the
    /// rejected rows with a code and a detail (a sequence number or a column bit mask). `grown`: the
    /// genealogy with the members this batch's joins add, taken in the same locked step as the batch, so
    /// that no recomputation sees the new members without their events.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (event_id, kind, row, amounts, value, sponsor, placement, leg, given, grown = None))]
    fn apply(
        &self,
        py: Python<'_>,
        event_id: &Bound<'_, PyAny>,
        kind: &Bound<'_, PyAny>,
        row: &Bound<'_, PyAny>,
        amounts: Vec<Bound<'_, PyAny>>,
        value: &Bound<'_, PyAny>,
        sponsor: &Bound<'_, PyAny>,
        placement: &Bound<'_, PyAny>,
        leg: &Bound<'_, PyAny>,
        given: &Bound<'_, PyAny>,
        grown: Option<&GenealogyCore>,
    ) -> PyResult<Applied> {
        let ids = import_array(py, event_id, "event_id")?;
        if ids.data_type() != &DataType::Utf8 {
            return Err(input_error(py, "event_id must be a string array"));
        }
        let a = ids.as_string::<i32>();
        let event_id = StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(|e| crate::errors::to_py_err(py, e))?;
        let kind = primitive::<UInt8Type>(py, kind, "kind")?;
        let row = primitive::<UInt32Type>(py, row, "row")?;
        let value = primitive::<UInt32Type>(py, value, "value")?;
        let sponsor = primitive::<UInt32Type>(py, sponsor, "sponsor")?;
        let placement = primitive::<UInt32Type>(py, placement, "placement")?;
        let leg = primitive::<UInt8Type>(py, leg, "leg")?;
        let amount_arrays: Vec<ArrayRef> = amounts.iter().map(|a| import_array(py, a, "amount")).collect::<PyResult<_>>()?;
        let amount_slices: Vec<&[i64]> = amount_arrays.iter().map(|a| int64_values(py, a, "amount")).collect::<PyResult<_>>()?;
        let given = bools(py, given, "given")?;
        let batch = Batch {
            event_id,
            kind: kind.as_primitive::<UInt8Type>().values(),
            row: row.as_primitive::<UInt32Type>().values(),
            amounts: amount_slices,
            value: value.as_primitive::<UInt32Type>().values(),
            sponsor: sponsor.as_primitive::<UInt32Type>().values(),
            placement: placement.as_primitive::<UInt32Type>().values(),
            leg: leg.as_primitive::<UInt8Type>().values(),
            given: &given,
        };
        let (tiers, ranks) = (self.plan.tiers, self.plan.ranks.len());
        let grown = grown.map(|g| (g.inner.clone(), g.member_id.clone()));
        let (seq, rejected) = run_detached(py, || {
            let mut w = lock(&self.writer)?;
            if let Some((inner, member_id)) = grown {
                grow(&mut w, inner, member_id)?;
            }
            let rejected = w.live.apply(&batch, tiers, ranks)?;
            let seq = w.live.seq();
            self.seq.store(seq, Ordering::Release);
            Ok((seq, rejected))
        })?;
        let mut rows = Vec::with_capacity(rejected.len());
        let mut codes = Vec::with_capacity(rejected.len());
        let mut details = Vec::with_capacity(rejected.len());
        for (r, why) in rejected {
            let (code, detail) = rejection(why);
            rows.push(r);
            codes.push(code);
            details.push(detail);
        }
        Ok((seq, rows, codes, details))
    }

    /// A copy of the period's inputs now: `seq`, `sums` (per column), `status_active`, `tier`,
    /// `rank_override`.
    fn inputs(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let inputs = run_detached(py, || Ok(lock(&self.writer)?.live.inputs()))?;
        let out = PyDict::new(py);
        out.set_item("seq", inputs.seq)?;
        let sums = PyList::empty(py);
        for column in inputs.sums {
            sums.append(int64_array(py, column)?)?;
        }
        out.set_item("sums", sums)?;
        out.set_item("status_active", BooleanArray::from(inputs.status_active).into_data().to_pyarrow(py)?)?;
        out.set_item("tier", i16_array(py, &inputs.tier)?)?;
        out.set_item("rank_override", i16_array(py, &inputs.rank_override)?)?;
        Ok(out.into_any().unbind())
    }

    /// The period over the state now, as `_mlm_core.run_period` returns it (plus `seq`, and `sums`: the
    /// volume columns it read). The state is copied under the writers' lock; the period runs after,
    /// without it and without the GIL.
    fn period(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let plan = &self.plan;
        let (inputs, genealogy, carried, outputs) = run_detached(py, || {
            let (inputs, genealogy, carried) = {
                let w = lock(&self.writer)?;
                (w.live.inputs(), w.genealogy.clone(), w.carried.clone())
            };
            let input = inputs.period_input(&carried);
            let outputs = crate::engine::period_outputs(&genealogy, plan, &input)?;
            drop(input);
            Ok((inputs, genealogy, carried, outputs))
        })?;
        drop((genealogy, carried));
        let (output, lines, column_totals, paid_totals) = outputs;
        let out = crate::engine::period_dict(py, output, lines, column_totals, paid_totals)?;
        out.set_item("seq", inputs.seq)?;
        out.set_item("members", inputs.status_active.len())?;
        let sums = PyList::empty(py);
        for column in inputs.sums {
            sums.append(int64_array(py, column)?)?;
        }
        out.set_item("sums", sums)?;
        Ok(out.into_any().unbind())
    }

    /// Publishes a view of the state now, unless the published view is already of this sequence number;
    /// returns the published view's sequence number. The view published before the current one is
    /// brought up to date with the members changed since (`View::update`), or, after joins and for the
    /// first two views, the period is computed whole. The GIL is released throughout, and the writers'
    /// lock only while the changed members' inputs (or the whole state) are copied.
    fn refresh(&self, py: Python<'_>) -> PyResult<u64> {
        let plan = &self.plan;
        run_detached(py, || {
            let mut r = lock(&self.refreshing)?;
            let back = r.back.take();
            let update = {
                let mut w = lock(&self.writer)?;
                if let Some(p) = self.published() {
                    if p.view.seq() == w.live.seq() && Arc::ptr_eq(&p.view.genealogy, &w.genealogy) {
                        // Nothing new; the rows taken since stay with the view to update.
                        r.back = back;
                        return Ok(p.view.seq());
                    }
                }
                match back {
                    Some((view, pending)) if Arc::ptr_eq(&view.view.genealogy, &w.genealogy) && View::updatable(plan) => {
                        match w.live.take_touched() {
                            Some(touched) => {
                                let mut rows = pending;
                                rows.extend_from_slice(&touched);
                                let changes = w.live.changes(rows);
                                Ok((view, changes, touched, w.carried.clone()))
                            }
                            // More changes than the log keeps: the rows since the last view are unknown.
                            None => Err(None),
                        }
                    }
                    // Joins (a new genealogy), or the first views: nothing taken from the log yet.
                    _ => Err(Some(Vec::new())),
                }
            };
            let published = match update {
                Ok((mut view, changes, touched, carried)) => {
                    // Readers that took this view before it was replaced hold it for one call at most.
                    while Arc::strong_count(&view) > 1 {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                    let updated = match Arc::get_mut(&mut view) {
                        Some(p) => in_background(|| p.view.update(plan, &changes, &carried)).unwrap_or(false),
                        None => false,
                    };
                    if updated {
                        self.updated_views.fetch_add(1, Ordering::Relaxed);
                        Ok((view, Some(touched)))
                    } else {
                        // Not updatable after all (sums near the int64 bounds, or an error the whole
                        // period will report): this view is dropped.
                        drop(view);
                        self.whole(Some(touched))
                    }
                }
                Err(before) => self.whole(before),
            };
            let (published, touched) = match published {
                Ok(done) => done,
                Err(e) => {
                    // The rows taken from the log go with this failure.
                    r.front_stale = true;
                    return Err(e);
                }
            };
            let seq = published.view.seq();
            let genealogy = published.view.genealogy.clone();
            let copy = View::updatable(plan).then(|| published.clone());
            let old = lock(&self.view)?.replace(published);
            // The view replaced is the next to update, with the rows changed since it was computed;
            // when it cannot be (the first view, or one before joins), a copy of the new one is.
            let stale = std::mem::take(&mut r.front_stale);
            if let Some(copy) = copy {
                r.back = match (old, touched) {
                    (Some(old), Some(touched)) if !stale && Arc::ptr_eq(&old.view.genealogy, &genealogy) => Some((old, touched)),
                    _ => Some((Arc::new(in_background(|| Published { view: copy.view.clone(), member_id: copy.member_id.clone() })), Vec::new())),
                };
            }
            Ok(seq)
        })
    }

    /// One member's figures in the published view (see `Projection.member`); None when the id is no
    /// member of it or no view is published yet.
    fn member(&self, py: Python<'_>, member_id: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        let Some(published) = self.published() else { return Ok(None) };
        let view = &published.view;
        let row = match trusted_id_column(py, &published.member_id)? {
            IdColumn::Int(keys) => match member_id.extract::<i64>() {
                Ok(key) => view.row_of(&keys, key),
                Err(_) => None,
            },
            IdColumn::Str(keys) => match member_id.extract::<&str>() {
                Ok(key) => view.row_of(&keys, key.as_bytes()),
                Err(_) => None,
            },
            IdColumn::LargeStr(keys) => match member_id.extract::<&str>() {
                Ok(key) => view.row_of(&keys, key.as_bytes()),
                Err(_) => None,
            },
        };
        let Some(figures) = row.and_then(|r| view.figures(&self.plan, r)) else { return Ok(None) };
        let names = &self.names;
        let out = PyDict::new(py);
        out.set_item(pyo3::intern!(py, "member_id"), member_id)?;
        out.set_item(pyo3::intern!(py, "as_of"), view.seq())?;
        out.set_item(pyo3::intern!(py, "active"), figures.active)?;
        out.set_item(pyo3::intern!(py, "paid_as_rank"), names.ranks[figures.paid_as as usize].bind(py))?;
        out.set_item(pyo3::intern!(py, "highest_rank"), names.ranks[figures.highest as usize].bind(py))?;
        let lines = PyDict::new(py);
        for (bonus, amount) in &figures.lines {
            lines.set_item(names.bonuses[*bonus].bind(py), amount)?;
        }
        out.set_item(pyo3::intern!(py, "lines"), lines)?;
        let volumes = PyDict::new(py);
        for (name, value) in names.columns.iter().zip(&figures.volumes) {
            volumes.set_item(name.bind(py), value)?;
        }
        out.set_item(pyo3::intern!(py, "volumes"), volumes)?;
        out.set_item(pyo3::intern!(py, "group_pv"), figures.group_pv)?;
        let legs = PyDict::new(py);
        for l in &figures.legs {
            let entry = PyDict::new(py);
            entry.set_item(pyo3::intern!(py, "left"), l.left)?;
            entry.set_item(pyo3::intern!(py, "right"), l.right)?;
            entry.set_item(pyo3::intern!(py, "carry_left"), l.carry_left)?;
            entry.set_item(pyo3::intern!(py, "carry_right"), l.carry_right)?;
            legs.set_item(names.bonuses[l.bonus].bind(py), entry)?;
        }
        out.set_item(pyo3::intern!(py, "legs"), legs)?;
        match figures.next_rank {
            None => out.set_item(pyo3::intern!(py, "next_rank"), py.None())?,
            Some(next) => {
                let entry = PyDict::new(py);
                entry.set_item(pyo3::intern!(py, "rank"), names.ranks[next.rank as usize].bind(py))?;
                entry.set_item(pyo3::intern!(py, "status"), next.status)?;
                entry.set_item(pyo3::intern!(py, "pv"), next.pv)?;
                entry.set_item(pyo3::intern!(py, "group_pv"), next.group_pv)?;
                entry.set_item(pyo3::intern!(py, "legs"), next.legs)?;
                out.set_item(pyo3::intern!(py, "next_rank"), entry)?;
            }
        }
        Ok(Some(out.into_any().unbind()))
    }
}
