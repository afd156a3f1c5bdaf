//! The commission period: the compiled plan (`PlanCore`) and `run_period` over a `GenealogyCore`.
use arrow::array::{Array, ArrayRef, BooleanArray, Int16Array, UInt16Array, UInt32Array};
use arrow::pyarrow::ToPyArrow;
use mlm_kernel::engine::{
    self, Base, BinaryRule, BonusRule, DifferentialRule, LevelRule, PeriodInput, PlanSpec, RankRule, RebateRule,
    Rounding, NO_VALUE,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrow_in::{import_array, int64_values};
use crate::errors::{input_error, run_detached};
use crate::genealogy::{index_array, int64_array, GenealogyCore};

fn plan_error(py: Python<'_>, message: String) -> PyErr {
    crate::errors::to_py_err(py, mlm_kernel::KernelError::Plan { message })
}

fn item<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
    match d.get_item(key)? {
        Some(v) => v.extract::<T>().map_err(|e| {
            let err: PyErr = e.into();
            plan_error(d.py(), format!("compiled plan key {key}: {err}"))
        }),
        None => Err(plan_error(d.py(), format!("compiled plan lacks {key}"))),
    }
}

use pyo3::conversion::FromPyObjectOwned;

/// A plan compiled by `mlm_core.plan` into plain values, held as the kernel's structs.
#[pyclass(frozen, module = "mlm_core._mlm_core")]
pub struct PlanCore {
    pub(crate) spec: PlanSpec,
}

#[pymethods]
impl PlanCore {
    #[new]
    fn new(py: Python<'_>, compiled: &Bound<'_, PyDict>) -> PyResult<Self> {
        let rounding = match item::<String>(compiled, "rounding")?.as_str() {
            "floor" => Rounding::Floor,
            "half_up" => Rounding::HalfUp,
            "half_even" => Rounding::HalfEven,
            other => return Err(plan_error(py, format!("unknown rounding {other:?}"))),
        };
        let mut ranks = Vec::new();
        for rank in item::<Bound<'_, PyList>>(compiled, "ranks")?.iter() {
            let rank = rank.cast_into::<PyDict>()?;
            ranks.push(RankRule {
                min_pv: item(&rank, "min_pv")?,
                min_gv: item(&rank, "min_gv")?,
                max_leg_share_bp: item(&rank, "max_leg_share_bp")?,
                legs: item(&rank, "legs")?,
                leg_rank: item(&rank, "leg_rank")?,
                assigned: item(&rank, "assigned")?,
            });
        }
        let mut bonuses = Vec::new();
        for bonus in item::<Bound<'_, PyList>>(compiled, "bonuses")?.iter() {
            let b = bonus.cast_into::<PyDict>()?;
            let kind: String = item(&b, "type")?;
            bonuses.push(match kind.as_str() {
                "binary" => BonusRule::Binary(BinaryRule {
                    base: item(&b, "base")?,
                    rate_bp: item(&b, "rate_bp")?,
                    pay_per_pair: item(&b, "pay_per_pair")?,
                    pair_unit: item(&b, "pair_unit")?,
                    carry_cap: item(&b, "carry_cap")?,
                    requires_active: item(&b, "requires_active")?,
                    requires_sponsored_legs: item(&b, "requires_sponsored_legs")?,
                    flush_unqualified: item(&b, "flush_unqualified")?,
                    cap_by_rank: item(&b, "cap_by_rank")?,
                    max_pairs_by_tier: item(&b, "max_pairs_by_tier")?,
                    carry_over_cap: item(&b, "carry_over_cap")?,
                    requires_tier: item(&b, "requires_tier")?,
                    pay_on_new_volume: item(&b, "pay_on_new_volume")?,
                }),
                "level" => BonusRule::Level(LevelRule {
                    base: match (item::<Option<usize>>(&b, "base_column")?, item::<Option<usize>>(&b, "base_bonus")?) {
                        (Some(c), None) => Base::Column(c),
                        (None, Some(x)) => Base::BonusPay(x),
                        _ => return Err(plan_error(py, "a level bonus has one base".into())),
                    },
                    rates_bp: item(&b, "rates_bp")?,
                    compression: item(&b, "compression")?,
                    depth_by_rank: item(&b, "depth_by_rank")?,
                    requires_active: item(&b, "requires_active")?,
                }),
                "differential" => BonusRule::Differential(DifferentialRule {
                    base: item(&b, "base")?,
                    rate_bp_by_rank: item(&b, "rate_bp_by_rank")?,
                    include_self: item(&b, "include_self")?,
                    requires_active: item(&b, "requires_active")?,
                }),
                "rebate" => BonusRule::Rebate(RebateRule {
                    base: item(&b, "base")?,
                    rate_bp: item(&b, "rate_bp")?,
                    requires_active: item(&b, "requires_active")?,
                }),
                other => return Err(plan_error(py, format!("unknown bonus type {other:?}"))),
            });
        }
        let spec = PlanSpec {
            rounding,
            activity_min_pv: item(compiled, "activity_min_pv")?,
            ranks,
            bonuses,
            tiers: item(compiled, "tiers")?,
        };
        Ok(PlanCore { spec })
    }
}

pub(crate) fn bools(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<bool>> {
    let array = import_array(py, value, what)?;
    let Some(flags) = array.as_any().downcast_ref::<BooleanArray>() else {
        return Err(input_error(py, format!("{what} must be boolean, not {}", array.data_type())));
    };
    if flags.null_count() > 0 {
        return Err(input_error(py, format!("{what} has {} null(s)", flags.null_count())));
    }
    Ok(flags.values().iter().collect())
}

pub(crate) fn u16s(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u16>> {
    let array = import_array(py, value, what)?;
    let Some(values) = array.as_any().downcast_ref::<Int16Array>() else {
        return Err(input_error(py, format!("{what} must be int16, not {}", array.data_type())));
    };
    // -1 (or null) means "none"; any other negative value is a caller's bug, not "none".
    if values.null_count() == 0 && values.values().iter().all(|&x| x >= -1) {
        return Ok(values.values().iter().map(|&x| if x == -1 { NO_VALUE } else { x as u16 }).collect());
    }
    values
        .iter()
        .map(|v| match v {
            Some(x) if x >= 0 => Ok(x as u16),
            None | Some(-1) => Ok(NO_VALUE),
            Some(x) => Err(input_error(py, format!("{what} has the invalid index {x}"))),
        })
        .collect()
}

fn int64_list(py: Python<'_>, list: &Bound<'_, PyList>, what: &str) -> PyResult<Vec<ArrayRef>> {
    list.iter().map(|v| import_array(py, &v, what)).collect()
}

/// Runs one period. Every per-member input is aligned to the genealogy's rows; `carries` holds per bonus
/// either None or `(left, right)`. Returns a dict of Arrow arrays and integers.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (genealogy, plan, columns, status_active, prev_highest, carries, rank_override = None, tier = None))]
pub fn run_period(
    py: Python<'_>,
    genealogy: &GenealogyCore,
    plan: &PlanCore,
    columns: &Bound<'_, PyList>,
    status_active: &Bound<'_, PyAny>,
    prev_highest: &Bound<'_, PyAny>,
    carries: &Bound<'_, PyList>,
    rank_override: Option<&Bound<'_, PyAny>>,
    tier: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let column_arrays = int64_list(py, columns, "columns")?;
    let column_slices: Vec<&[i64]> =
        column_arrays.iter().map(|a| int64_values(py, a, "volume column")).collect::<PyResult<_>>()?;
    let status = bools(py, status_active, "status_active")?;
    let highest = u16s(py, prev_highest, "prev_highest")?;
    let overrides = rank_override.map(|o| u16s(py, o, "rank_override")).transpose()?;
    let tiers = tier.map(|t| u16s(py, t, "tier")).transpose()?;
    let mut carry_arrays: Vec<Option<(ArrayRef, ArrayRef)>> = Vec::new();
    for entry in carries.iter() {
        carry_arrays.push(if entry.is_none() {
            None
        } else {
            let (l, r): (Bound<'_, PyAny>, Bound<'_, PyAny>) = entry.extract()?;
            Some((import_array(py, &l, "carry")?, import_array(py, &r, "carry")?))
        });
    }
    let carry_slices: Vec<Option<(&[i64], &[i64])>> = carry_arrays
        .iter()
        .map(|c| c.as_ref().map(|(l, r)| Ok((int64_values(py, l, "carry")?, int64_values(py, r, "carry")?))).transpose())
        .collect::<PyResult<_>>()?;
    let input = PeriodInput {
        columns: column_slices,
        status_active: &status,
        prev_highest: &highest,
        carries: carry_slices,
        rank_override: overrides.as_deref(),
        tier: tiers.as_deref(),
    };
    let inner = &genealogy.inner;
    let spec = &plan.spec;
    let (output, lines, column_totals, paid_totals) = run_detached(py, || period_outputs(inner, spec, &input))?;
    period_dict(py, output, lines, column_totals, paid_totals).map(|d| d.into_any().unbind())
}

/// What a period dict is made of: the kernel's outputs, its lines and exact totals.
pub(crate) type PeriodOutputs = (engine::PeriodOutput, engine::Lines, Vec<i128>, Vec<i128>);

/// Runs the period and gathers its lines and totals (call without the GIL).
pub(crate) fn period_outputs(
    genealogy: &mlm_kernel::Genealogy,
    spec: &PlanSpec,
    input: &PeriodInput<'_>,
) -> Result<PeriodOutputs, mlm_kernel::KernelError> {
    let output = engine::run_period(genealogy, spec, input)?;
    let lines = engine::lines(&output);
    let column_totals: Vec<i128> = input.columns.iter().map(|c| engine::total(c)).collect();
    let paid_totals: Vec<i128> = output.bonuses.iter().map(|b| engine::total(&b.amount)).collect();
    Ok((output, lines, column_totals, paid_totals))
}

/// The dict `mlm_core.engine._result` reads: Arrow arrays (moved, not copied) and exact integers.
pub(crate) fn period_dict<'py>(
    py: Python<'py>,
    output: engine::PeriodOutput,
    lines: engine::Lines,
    column_totals: Vec<i128>,
    paid_totals: Vec<i128>,
) -> PyResult<Bound<'py, PyDict>> {
    let result = PyDict::new(py);
    let ranks = |v: Vec<u16>| UInt16Array::from(v).into_data().to_pyarrow(py).map(|a| a.unbind());
    result.set_item("paid_as", ranks(output.paid_as)?)?;
    result.set_item("highest", ranks(output.highest)?)?;
    result.set_item("active", BooleanArray::from(output.active).into_data().to_pyarrow(py)?)?;
    result.set_item("column_totals", column_totals)?;
    let bonuses = PyList::empty(py);
    for (bonus, paid_total) in output.bonuses.into_iter().zip(paid_totals) {
        let entry = PyDict::new(py);
        entry.set_item("breakage", bonus.breakage)?;
        entry.set_item("paid_total", paid_total)?;
        if let Some((l, r)) = bonus.carry {
            entry.set_item("carry", (int64_array(py, l)?, int64_array(py, r)?))?;
        }
        entry.set_item("amount", int64_array(py, bonus.amount)?)?;
        bonuses.append(entry)?;
    }
    result.set_item("bonuses", bonuses)?;
    result.set_item("line_row", UInt32Array::from(lines.row).into_data().to_pyarrow(py)?)?;
    result.set_item("line_bonus", UInt16Array::from(lines.bonus).into_data().to_pyarrow(py)?)?;
    result.set_item("line_amount", int64_array(py, lines.amount)?)?;
    Ok(result)
}

/// The shares behind one member's line of level bonus `bonus` (index in the plan): a dict of arrays
/// `from_row, level, paid_level, base, rate_bp, share, paid` (`share` as Python ints: exact i128).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn explain_level(
    py: Python<'_>,
    genealogy: &GenealogyCore,
    plan: &PlanCore,
    bonus: usize,
    base: &Bound<'_, PyAny>,
    active: &Bound<'_, PyAny>,
    paid_as: &Bound<'_, PyAny>,
    row: usize,
) -> PyResult<Py<PyAny>> {
    let rule = match plan.spec.bonuses.get(bonus) {
        Some(rule @ (BonusRule::Level(_) | BonusRule::Differential(_))) => rule,
        _ => return Err(input_error(py, format!("bonus {bonus} is neither a level nor a differential bonus"))),
    };
    let base = import_array(py, base, "base")?;
    let base = int64_values(py, &base, "base")?;
    let active = bools(py, active, "active")?;
    let paid_as = import_array(py, paid_as, "paid_as")?;
    let Some(paid_as) = paid_as.as_any().downcast_ref::<UInt16Array>() else {
        return Err(input_error(py, "paid_as must be uint16"));
    };
    if paid_as.null_count() > 0 || paid_as.values().iter().any(|&r| r as usize >= plan.spec.ranks.len()) {
        return Err(input_error(py, "paid_as must hold rank indices of the plan, without nulls"));
    }
    let paid_as = paid_as.values();
    let inner = &genealogy.inner;
    let shares = run_detached(py, || match rule {
        BonusRule::Level(rule) => engine::explain::explain_level(inner, rule, base, &active, paid_as, row),
        BonusRule::Differential(rule) => {
            engine::explain::explain_differential(inner, rule, base, &active, paid_as, row)
        }
        _ => Ok(Vec::new()),
    })?;
    let out = PyDict::new(py);
    out.set_item("from_row", index_array(py, &shares.iter().map(|c| c.from_row).collect::<Vec<_>>())?)?;
    out.set_item("level", int64_array(py, shares.iter().map(|c| i64::from(c.level)).collect())?)?;
    out.set_item("paid_level", int64_array(py, shares.iter().map(|c| i64::from(c.paid_level)).collect())?)?;
    out.set_item("base", int64_array(py, shares.iter().map(|c| c.base).collect())?)?;
    out.set_item("rate_bp", int64_array(py, shares.iter().map(|c| c.rate_bp).collect())?)?;
    out.set_item("share", shares.iter().map(|c| c.share).collect::<Vec<i128>>())?;
    out.set_item("paid_below_bp", int64_array(py, shares.iter().map(|c| c.paid_below_bp).collect())?)?;
    out.set_item("paid", BooleanArray::from(shares.iter().map(|c| c.paid).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    Ok(out.into_any().unbind())
}
