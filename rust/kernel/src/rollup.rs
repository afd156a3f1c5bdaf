//! Subtree aggregates over either tree (issue 2): sum, max and count of an int64 column, binary leg
//! volumes. One backward pass over a topological order; int64 overflow is an error naming the member.
use rayon::prelude::*;

use crate::error::{invalid, KernelError, Result};
use crate::genealogy::{Genealogy, Leg, TreeIndex, Tree, NONE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupOp {
    /// Sum of the values in the subtree, the member included.
    Sum,
    /// Largest value in the subtree, the member included.
    Max,
    /// Members of the subtree (the member included) whose value is non-zero; every member without values.
    Count,
}

impl RollupOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RollupOp::Sum => "sum",
            RollupOp::Max => "max",
            RollupOp::Count => "count",
        }
    }
}

/// Calls `fold(entries, v, p)` for every member `v` with a parent `p`, children before parents, so each
/// member's entry is final when it is folded into its parent's. Stops at the first error (the row the
/// fold names, such as the parent whose total overflowed).
fn fold_up<T>(
    tree: &TreeIndex,
    entries: &mut [T],
    mut fold: impl FnMut(&mut [T], usize, usize) -> std::result::Result<(), usize>,
) -> std::result::Result<(), usize> {
    let parent = tree.parent();
    let mut step = |entries: &mut [T], v: usize| match parent[v] {
        NONE => Ok(()),
        p => fold(entries, v, p as usize),
    };
    if tree.rows_topological() {
        // Rows already list parents first: walk them backwards and skip the random gather of `order`.
        // Parents are known ahead, so their entries are prefetched a few members early.
        const AHEAD: usize = 16;
        for v in (0..parent.len()).rev() {
            if v >= AHEAD && parent[v - AHEAD] != NONE {
                crate::id_index::prefetch(&entries[parent[v - AHEAD] as usize]);
            }
            step(entries, v)?;
        }
    } else {
        for &v in tree.order().iter().rev() {
            step(entries, v as usize)?;
        }
    }
    Ok(())
}

/// The error of a subtree sum of `tree` that leaves int64 at member `row`.
pub(crate) fn overflow(tree: Tree, row: usize) -> KernelError {
    KernelError::Overflow { context: format!("{} subtree sum", tree.as_str()), row: Some(row) }
}

impl Genealogy {
    fn check_len(&self, values: &[i64]) -> Result<()> {
        if values.len() != self.len() {
            return Err(invalid(format!(
                "values have {} rows, the genealogy has {} members",
                values.len(),
                self.len()
            )));
        }
        Ok(())
    }

    /// The `op` aggregate of every member's subtree in `tree`, aligned to member rows.
    pub fn rollup(&self, tree: Tree, op: RollupOp, values: Option<&[i64]>) -> Result<Vec<i64>> {
        let index = self.tree(tree);
        let mut acc = match (op, values) {
            (RollupOp::Count, None) => vec![1i64; self.len()],
            (RollupOp::Count, Some(v)) => {
                self.check_len(v)?;
                v.iter().map(|&x| (x != 0) as i64).collect()
            }
            (_, Some(v)) => {
                self.check_len(v)?;
                v.to_vec()
            }
            (_, None) => return Err(invalid(format!("rollup '{}' needs values", op.as_str()))),
        };
        let combine = match op {
            RollupOp::Sum | RollupOp::Count => i64::checked_add,
            RollupOp::Max => |a: i64, b: i64| Some(a.max(b)),
        };
        let folded = fold_up(index, &mut acc, |acc, v, p| {
            acc[p] = combine(acc[p], acc[v]).ok_or(p)?;
            Ok(())
        });
        folded.map_err(|row| overflow(tree, row))?;
        Ok(acc)
    }

    /// Total of `values` in the placement subtree under each member's left and right child (0 where the
    /// slot is empty).
    pub fn leg_volumes(&self, values: &[i64]) -> Result<(Vec<i64>, Vec<i64>)> {
        self.check_len(values)?;
        /// A member's subtree total so far and its legs' totals: one entry, so folding a child into its
        /// parent touches one random cache line instead of two.
        #[derive(Clone, Copy)]
        #[repr(C, align(32))]
        struct Entry {
            total: i64,
            legs: [i64; 2],
        }
        let mut entries: Vec<Entry> = values.iter().map(|&total| Entry { total, legs: [0, 0] }).collect();
        let legs = &self.leg;
        // A child's subtree total is final when it is folded into its parent, so it is also the
        // parent's volume on the child's leg. Indexing by leg instead of branching on it: L and R are a
        // coin toss the branch predictor loses.
        fold_up(&self.placement, &mut entries, |entries, v, p| {
            let total = entries[v].total;
            let up = &mut entries[p];
            up.legs[(legs[v] != Leg::Left as u8) as usize] = total;
            up.total = up.total.checked_add(total).ok_or(p)?;
            Ok(())
        })
        .map_err(|row| overflow(Tree::Placement, row))?;
        Ok(entries.par_iter().with_min_len(1 << 16).map(|e| (e.legs[0], e.legs[1])).unzip())
    }
}

/// Sums each column of `values` per member: `rows[i]` is the member row of value `i` (volume rows to
/// period totals). Overflow names the member row and the volume row.
pub fn sum_columns_by_row(rows: &[u32], values: &[&[i64]], members: usize) -> Result<Vec<Vec<i64>>> {
    values
        .iter()
        .map(|column| {
            if column.len() != rows.len() {
                return Err(invalid("rows and values differ in length"));
            }
            let mut sums = vec![0i64; members];
            for (i, (&row, &value)) in rows.iter().zip(column.iter()).enumerate() {
                let slot = sums
                    .get_mut(row as usize)
                    .ok_or_else(|| invalid(format!("row {row} of value {i} is not a member row")))?;
                *slot = slot.checked_add(value).ok_or_else(|| KernelError::Overflow {
                    context: format!("period total (volume row {i})"),
                    row: Some(row as usize),
                })?;
            }
            Ok(sums)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genealogy::{build_genealogy, BuildOptions};
    use crate::keys::{IntKeys, OwnedStrKeys};

    /// A small hand-drawn network (ids 10..16):
    /// sponsor tree 10 -> {11, 12}, 11 -> {13, 14}, 12 -> {15}, 13 -> {16};
    /// placement tree 10 -> L 11, R 12; 11 -> L 13, R 14; 12 -> L 15; 13 -> R 16.
    pub(crate) fn sample() -> Genealogy {
        let ids = [10i64, 11, 12, 13, 14, 15, 16];
        let sponsors = [0i64, 10, 10, 11, 11, 12, 13];
        let placements = [0i64, 10, 10, 11, 11, 12, 13];
        let root_only = [0b1111_1110u8];
        let legs = OwnedStrKeys::new(&[None, Some("L"), Some("R"), Some("L"), Some("R"), Some("L"), Some("R")]);
        let member = IntKeys { values: &ids, validity: None };
        let sponsor = IntKeys { values: &sponsors, validity: Some(crate::keys::Validity { bits: &root_only, offset: 0 }) };
        let placement =
            IntKeys { values: &placements, validity: Some(crate::keys::Validity { bits: &root_only, offset: 0 }) };
        build_genealogy(&member, &sponsor, &placement, &legs.view(), BuildOptions::default()).unwrap().0
    }

    #[test]
    fn sums_counts_and_max_by_hand() {
        let g = sample();
        let pv = [1i64, 2, 3, 4, 5, 6, 7];
        assert_eq!(g.rollup(Tree::Sponsor, RollupOp::Sum, Some(&pv)).unwrap(), vec![28, 18, 9, 11, 5, 6, 7]);
        assert_eq!(g.rollup(Tree::Sponsor, RollupOp::Count, None).unwrap(), vec![7, 4, 2, 2, 1, 1, 1]);
        let flags = [0i64, 0, 1, 0, 1, 1, -3];
        assert_eq!(g.rollup(Tree::Sponsor, RollupOp::Count, Some(&flags)).unwrap(), vec![4, 2, 2, 1, 1, 1, 1]);
        let mixed = [-5i64, 2, -3, 4, -1, 0, 9];
        assert_eq!(g.rollup(Tree::Sponsor, RollupOp::Max, Some(&mixed)).unwrap(), vec![9, 9, 0, 9, -1, 0, 9]);
    }

    #[test]
    fn leg_volumes_by_hand() {
        let g = sample();
        let bv = [100i64, 200, 300, 400, 500, 600, 700];
        let (left, right) = g.leg_volumes(&bv).unwrap();
        assert_eq!(left, vec![1800, 1100, 600, 0, 0, 0, 0]);
        assert_eq!(right, vec![900, 500, 0, 700, 0, 0, 0]);
    }

    #[test]
    fn overflow_is_an_error_naming_the_member() {
        let g = sample();
        let big = [0i64, i64::MAX, 0, 1, 0, 0, 0];
        let err = g.rollup(Tree::Sponsor, RollupOp::Sum, Some(&big)).unwrap_err();
        assert!(matches!(err, KernelError::Overflow { row: Some(1), .. }), "{err}");
    }

    #[test]
    fn sums_by_row_with_overflow_named() {
        let sums = sum_columns_by_row(&[2, 0, 2], &[&[5, 1, -7], &[1, 1, 1]], 3).unwrap();
        assert_eq!(sums, vec![vec![1, 0, -2], vec![1, 0, 2]]);
        assert!(sum_columns_by_row(&[3], &[&[1]], 3).is_err());
        assert!(sum_columns_by_row(&[0, 1], &[&[1]], 3).is_err());
        let err = sum_columns_by_row(&[1, 1], &[&[i64::MAX, 1]], 2).unwrap_err();
        assert!(matches!(err, KernelError::Overflow { row: Some(1), .. }));
    }

    #[test]
    fn wrong_length_is_an_error() {
        let g = sample();
        assert!(g.rollup(Tree::Sponsor, RollupOp::Sum, Some(&[1, 2])).is_err());
        assert!(g.rollup(Tree::Sponsor, RollupOp::Sum, None).is_err());
    }
}
