//! The live state against hand-checked batches, and a view against the spec's worked example.
use super::*;
use crate::engine::tests::{example_genealogy, example_plan};
use crate::keys::{StrKeys, Validity};

/// Event ids laid out as an Arrow `string` column (i32 offsets).
struct Ids {
    offsets: Vec<i32>,
    data: Vec<u8>,
    valid: Vec<u8>,
}

impl Ids {
    fn new(ids: &[Option<&str>]) -> Ids {
        let mut out = Ids { offsets: vec![0], data: Vec::new(), valid: vec![0; ids.len().div_ceil(8)] };
        for (i, id) in ids.iter().enumerate() {
            if let Some(id) = id {
                out.data.extend_from_slice(id.as_bytes());
                out.valid[i / 8] |= 1 << (i % 8);
            }
            out.offsets.push(out.data.len() as i32);
        }
        out
    }

    fn view_i32(&self) -> StrKeys<'_, i32> {
        StrKeys::new(&self.offsets, &self.data, Some(Validity { bits: &self.valid, offset: 0 })).unwrap()
    }
}

struct Events {
    ids: Ids,
    kind: Vec<u8>,
    row: Vec<u32>,
    pv: Vec<i64>,
    bv: Vec<i64>,
    value: Vec<u32>,
}

/// (event id, kind, member row, pv, bv, value)
type Event<'a> = (Option<&'a str>, u8, u32, i64, i64, u32);

fn events(list: &[Event<'_>]) -> Events {
    Events {
        ids: Ids::new(&list.iter().map(|e| e.0).collect::<Vec<_>>()),
        kind: list.iter().map(|e| e.1).collect(),
        row: list.iter().map(|e| e.2).collect(),
        pv: list.iter().map(|e| e.3).collect(),
        bv: list.iter().map(|e| e.4).collect(),
        value: list.iter().map(|e| e.5).collect(),
    }
}

fn try_apply(state: &mut LiveState, e: &Events) -> crate::error::Result<Vec<(usize, Rejection)>> {
    let n = e.kind.len();
    let zeros32 = vec![0u32; n];
    let zeros8 = vec![0u8; n];
    let given = vec![false; n];
    let batch = Batch {
        event_id: e.ids.view_i32(),
        kind: &e.kind,
        row: &e.row,
        amounts: vec![&e.pv, &e.bv],
        value: &e.value,
        sponsor: &zeros32,
        placement: &zeros32,
        leg: &zeros8,
        given: &given,
    };
    state.apply(&batch, 2, 4)
}

fn apply(state: &mut LiveState, e: &Events) -> Vec<(usize, Rejection)> {
    try_apply(state, e).unwrap()
}

fn fresh(n: usize) -> LiveState {
    LiveState::new(2, vec![true; n], vec![NO_VALUE; n], vec![NO_VALUE; n]).unwrap()
}

#[test]
fn orders_returns_and_attributes_apply_in_row_order() {
    let mut s = fresh(3);
    let e = events(&[
        (Some("a"), ORDER, 1, 500, 400, NO_CODE),
        (Some("b"), RETURN, 1, 200, 100, NO_CODE),
        (Some("c"), STATUS, 2, 0, 0, 7),
        (Some("d"), TIER, 0, 0, 0, 1),
        (Some("e"), RANK_OVERRIDE, 0, 0, 0, 3),
        (Some("f"), RANK_OVERRIDE, 0, 0, 0, NO_CODE),
    ]);
    assert!(apply(&mut s, &e).is_empty());
    assert_eq!(s.seq(), 6);
    assert_eq!(s.sums, vec![vec![0, 300, 0], vec![0, 300, 0]]);
    assert_eq!(s.status_active, vec![true, true, false]);
    assert_eq!((s.tier[0], s.rank_override[0]), (1, NO_VALUE));
    assert_eq!(s.seq_of(b"c"), Some(3));
}

#[test]
fn repeats_are_no_ops_or_rejected_and_bad_events_name_their_reason() {
    let mut s = fresh(3);
    assert!(apply(&mut s, &events(&[(Some("a"), ORDER, 1, 500, 400, NO_CODE)])).is_empty());
    let e = events(&[
        (Some("a"), ORDER, 1, 500, 400, NO_CODE), // the same event again
        (Some("a"), ORDER, 1, 501, 400, NO_CODE), // other fields
        (None, ORDER, 1, 1, 1, NO_CODE),
        (Some("k"), 9, 1, 1, 1, NO_CODE),
        (Some("m"), ORDER, NONE, 1, 1, NO_CODE),
        (Some("u"), ORDER, UNKNOWN_ROW, 1, 1, NO_CODE),
        (Some("n"), ORDER, 1, 1, -1, NO_CODE),
        (Some("s"), STATUS, 1, 0, 0, NO_CODE),
        (Some("t"), TIER, 1, 0, 0, BAD_CODE),
        (Some("r"), RANK_OVERRIDE, 1, 0, 0, BAD_CODE),
        (Some("z"), ORDER, 2, 1, 1, NO_CODE),
        (Some("z"), ORDER, 2, 1, 1, NO_CODE), // repeated within the batch: a no-op
    ]);
    let rejected = apply(&mut s, &e);
    assert_eq!(
        rejected,
        vec![
            (1, Rejection::OtherFields(1)),
            (2, Rejection::NullEventId),
            (3, Rejection::UnknownKind),
            (4, Rejection::NullMember),
            (5, Rejection::UnknownMember),
            (6, Rejection::Negative(0b10)),
            (7, Rejection::NoStatus),
            (8, Rejection::UnknownTier),
            (9, Rejection::UnknownRank),
        ]
    );
    assert_eq!(s.seq(), 2);
    assert_eq!(s.sums[0], vec![0, 500, 1]);
}

#[test]
fn an_event_that_would_leave_int64_is_rejected_whole() {
    let mut s = fresh(2);
    assert!(apply(&mut s, &events(&[(Some("a"), ORDER, 0, 1, i64::MAX, NO_CODE)])).is_empty());
    // pv would fit, bv would not: neither column moves.
    let rejected = apply(&mut s, &events(&[(Some("b"), ORDER, 0, 5, 1, NO_CODE), (Some("c"), RETURN, 0, 1, 1, NO_CODE)]));
    assert_eq!(rejected, vec![(0, Rejection::Overflow(0b10))]);
    assert_eq!((s.sums[0][0], s.sums[1][0]), (0, i64::MAX - 1));
    // A return below i64::MIN is refused the same way; exactly i64::MIN is a valid total.
    let mut s = fresh(1);
    assert!(apply(&mut s, &events(&[(Some("a"), RETURN, 0, 0, i64::MAX, NO_CODE), (Some("b"), RETURN, 0, 0, 1, NO_CODE)])).is_empty());
    assert_eq!(s.sums[1][0], i64::MIN);
    assert_eq!(apply(&mut s, &events(&[(Some("c"), RETURN, 0, 0, 1, NO_CODE)])), vec![(0, Rejection::Overflow(0b10))]);
}

#[test]
fn rows_out_of_range_are_a_callers_error_and_change_nothing() {
    let mut s = fresh(2);
    let e = events(&[(Some("a"), ORDER, 0, 1, 1, NO_CODE), (Some("b"), ORDER, 5, 1, 1, NO_CODE)]);
    assert!(try_apply(&mut s, &e).is_err());
    assert_eq!((s.seq(), s.sums[0][0]), (0, 0));
}

#[test]
fn a_view_is_the_period_with_each_members_figures() {
    // The spec's worked example: A..H as rows 0..7.
    let g = Arc::new(example_genealogy());
    let plan = example_plan();
    let volume = vec![12_000i64, 15_000, 10_000, 30_000, 10_000, 20_000, 40_000, 10_000];
    let status = vec![true, true, true, true, true, true, false, true];
    let carried = Carried {
        prev_highest: vec![0, 0, 2, 0, 0, 0, 0, 0],
        carries: vec![Some((vec![0, 700, 0, 0, 0, 0, 0, 0], vec![2_500, 0, 0, 0, 0, 0, 0, 0])), None, None],
    };
    let inputs = Inputs {
        seq: 9,
        sums: vec![volume.clone(), volume.clone()],
        status_active: status.clone(),
        tier: vec![NO_VALUE; 8],
        rank_override: vec![NO_VALUE; 8],
    };
    let view = View::compute(g.clone(), &plan, inputs, &carried).unwrap();
    // The same numbers as the spec's worked example (engine::tests::worked_example_of_the_spec).
    assert_eq!(view.output.paid_as, vec![2, 1, 1, 1, 0, 0, 0, 0]);
    let a = view.figures(&plan, 0).unwrap();
    assert_eq!(a.lines, vec![(0, 4250), (1, 4050), (2, 160)]);
    assert_eq!(a.group_pv, Some(147_000));
    // Left leg B+D+E+G = 95 000; right leg C+F+H = 40 000 plus the carried 2 500.
    assert_eq!(a.legs, vec![Legs { bonus: 0, left: 95_000, right: 42_500, carry_left: 50_000, carry_right: 0 }]);
    // Rank 3 needs 100 000 group PV, legs capped at 50 000: B's 105 000 counts 50 000, C's 30 000, own
    // 12 000 -> 92 000, 8 000 short; two legs hold rank 1 or more (B and C): none short.
    assert_eq!(a.next_rank, Some(NextRank { rank: 3, status: false, pv: 0, group_pv: 8_000, legs: 0 }));
    // B: rank 2 needs 60 000, legs capped at 30 000: D's 80 000 counts 30 000, E's 10 000, own 15 000.
    let b = view.figures(&plan, 1).unwrap();
    assert_eq!(b.next_rank, Some(NextRank { rank: 2, status: false, pv: 0, group_pv: 5_000, legs: 0 }));
    // G is not active: that is what it lacks for rank 1 (its 50 000 group PV is enough).
    let gee = view.figures(&plan, 6).unwrap();
    assert_eq!(gee.next_rank, Some(NextRank { rank: 1, status: true, pv: 0, group_pv: 0, legs: 0 }));
    assert!(view.figures(&plan, 8).is_none());
    // The view's period is run_period's.
    let input = PeriodInput {
        columns: vec![&volume, &volume],
        status_active: &status,
        prev_highest: &carried.prev_highest,
        carries: vec![carried.carries[0].as_ref().map(|(l, r)| (l.as_slice(), r.as_slice())), None, None],
        rank_override: None,
        tier: None,
    };
    let expected = engine::run_period(&g, &plan, &input).unwrap();
    assert_eq!(view.output.paid_as, expected.paid_as);
    for (got, want) in view.output.bonuses.iter().zip(&expected.bonuses) {
        assert_eq!((&got.amount, &got.carry, got.breakage), (&want.amount, &want.carry, want.breakage));
    }
}

#[test]
fn members_that_join_start_empty_and_carry_nothing() {
    let mut s = fresh(2);
    s.grow(4);
    assert_eq!((s.len(), s.sums[1].len(), s.status_active[3], s.tier[3]), (4, 4, false, NO_VALUE));
    let mut c = Carried { prev_highest: vec![1, 2], carries: vec![Some((vec![5, 6], vec![7, 8])), None] };
    c.grow(3);
    assert_eq!(c.prev_highest, vec![1, 2, 0]);
    assert_eq!(c.carries[0], Some((vec![5, 6, 0], vec![7, 8, 0])));
}

#[test]
fn the_event_index_grows_and_still_finds_every_id() {
    let mut s = fresh(10);
    let names: Vec<String> = (0..120_000).map(|i| format!("ev-{i}")).collect();
    for chunk in names.chunks(40_000) {
        let list: Vec<Event<'_>> = chunk.iter().enumerate().map(|(k, id)| (Some(id.as_str()), ORDER, (k % 10) as u32, 1, 2, NO_CODE)).collect();
        assert!(apply(&mut s, &events(&list)).is_empty());
    }
    assert_eq!(s.seq(), 120_000);
    // Every id again, in another order: no-ops; one of them with other fields: rejected with its seq.
    let mut again: Vec<Event<'_>> = names.iter().rev().enumerate().map(|(k, id)| (Some(id.as_str()), ORDER, ((119_999 - k) % 40_000 % 10) as u32, 1, 2, NO_CODE)).collect();
    again[5].3 = 9;
    let rejected = apply(&mut s, &events(&again));
    assert_eq!(rejected, vec![(5, Rejection::OtherFields(119_995))]);
    assert_eq!((s.seq(), s.seq_of(b"ev-0"), s.seq_of(b"ev-77777"), s.seq_of(b"ev-x")), (120_000, Some(1), Some(77_778), None));
    assert_eq!(s.sums[0].iter().sum::<i64>(), 120_000);
}

// ---- View::update against View::compute -------------------------------------------------------------

use crate::engine::{Base, BinaryRule, BonusRule, DifferentialRule, LevelRule, RankRule, RebateRule, Rounding};
use crate::rng::SplitMix64;

/// A synthetic network of `n` members; `shuffled`: rows in a random order (parents after children
/// too), so that updates walk the trees' depth orders rather than row order.
fn random_genealogy(n: usize, seed: u64, shuffled: bool) -> Arc<Genealogy> {
    use crate::genealogy::{build_genealogy, BuildOptions};
    use crate::keys::{IntKeys, OwnedStrKeys};
    let sponsor = crate::synth::sponsors(n, seed).unwrap();
    let (placement, leg) = crate::synth::spillover_placement(&sponsor, seed).unwrap();
    let mut order: Vec<usize> = (0..n).collect();
    if shuffled {
        let mut rng = SplitMix64::new(seed ^ 77);
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    let ids: Vec<i64> = order.iter().map(|&m| m as i64).collect();
    let id_of = |p: u32| if p == NONE { 0 } else { p as i64 };
    let sp: Vec<i64> = order.iter().map(|&m| id_of(sponsor[m])).collect();
    let pl: Vec<i64> = order.iter().map(|&m| id_of(placement[m])).collect();
    let mut valid = vec![0u8; n.div_ceil(8)];
    for (row, &m) in order.iter().enumerate() {
        if sponsor[m] != NONE {
            valid[row / 8] |= 1 << (row % 8);
        }
    }
    let legs = OwnedStrKeys::new(&order.iter().map(|&m| match leg[m] { 1 => Some("L"), 2 => Some("R"), _ => None }).collect::<Vec<_>>());
    let v = Some(Validity { bits: &valid, offset: 0 });
    let (g, _) = build_genealogy(
        &crate::keys::IntKeys { values: &ids, validity: None },
        &IntKeys { values: &sp, validity: v },
        &IntKeys { values: &pl, validity: v },
        &legs.view(),
        BuildOptions::default(),
    )
    .unwrap();
    assert_eq!(g.tree(Tree::Sponsor).rows_topological(), !shuffled || n < 3);
    Arc::new(g)
}

/// Plan v2's package shapes: pay per pair with pair caps by tier carried over, new volume only, flushes;
/// ranks on own PV with an assigned rank; unilevel without compression; matching that does not need
/// activity; a rebate; a differential that pays the member's own base.
fn package_plan() -> PlanSpec {
    let own = |min_pv, assigned| RankRule { min_pv: Some(min_pv), assigned, max_leg_share_bp: 10_000, ..RankRule::default() };
    PlanSpec {
        rounding: Rounding::HalfUp,
        activity_min_pv: 5_000,
        ranks: vec![RankRule::default(), own(5_000, false), own(10_000, false), own(0, true)],
        bonuses: vec![
            BonusRule::Binary(BinaryRule {
                base: 1,
                rate_bp: None,
                pay_per_pair: Some(150),
                pair_unit: 1_000,
                carry_cap: 0,
                requires_active: true,
                requires_sponsored_legs: false,
                flush_unqualified: true,
                cap_by_rank: vec![Some(400), None, Some(900), None],
                max_pairs_by_tier: vec![Some(2), Some(5), None],
                carry_over_cap: true,
                requires_tier: true,
                pay_on_new_volume: true,
            }),
            BonusRule::Level(LevelRule {
                base: Base::Column(0),
                rates_bp: vec![700, 300, 100, 50],
                compression: false,
                depth_by_rank: vec![Some(1), Some(2), None, Some(3)],
                requires_active: true,
            }),
            BonusRule::Level(LevelRule {
                base: Base::BonusPay(0),
                rates_bp: vec![1500, 500],
                compression: true,
                depth_by_rank: vec![None; 4],
                requires_active: false,
            }),
            BonusRule::Rebate(RebateRule { base: 0, rate_bp: 1250, requires_active: true }),
            BonusRule::Differential(DifferentialRule {
                base: 1,
                rate_bp_by_rank: vec![0, 2500, 5000, 10000],
                include_self: true,
                requires_active: false,
            }),
        ],
        tiers: 3,
    }
}

/// The example plan with ranks that count legs but read no group PV, every level paid, and a
/// differential bonus.
fn legs_only_plan() -> PlanSpec {
    let mut plan = example_plan();
    for rank in plan.ranks.iter_mut().skip(1) {
        rank.min_gv = None;
    }
    plan.ranks[1].legs = 1;
    plan.ranks[1].leg_rank = 0;
    plan.rounding = Rounding::HalfEven;
    if let BonusRule::Level(rule) = &mut plan.bonuses[1] {
        rule.depth_by_rank = vec![None; 4];
        rule.requires_active = false;
    }
    // A differential with two ranks at one rate, and one without.
    plan.bonuses.push(BonusRule::Differential(DifferentialRule {
        base: 0,
        rate_bp_by_rank: vec![0, 300, 300, 900],
        include_self: false,
        requires_active: true,
    }));
    plan
}

/// The example plan with a binary bonus that pays inactive members too: matching (which needs activity,
/// with compression) then has bases on members no event changed.
fn passive_binary_plan() -> PlanSpec {
    let mut plan = example_plan();
    if let BonusRule::Binary(rule) = &mut plan.bonuses[0] {
        rule.requires_active = false;
        rule.requires_sponsored_legs = false;
    }
    plan
}

fn assert_same_view(updated: &View, full: &View, what: &str) {
    assert_eq!(updated.seq(), full.seq(), "{what}: seq");
    assert_eq!(updated.inputs.sums, full.inputs.sums, "{what}: sums");
    assert_eq!(updated.inputs.status_active, full.inputs.status_active, "{what}: status");
    assert_eq!(updated.inputs.tier, full.inputs.tier, "{what}: tiers");
    assert_eq!(updated.inputs.rank_override, full.inputs.rank_override, "{what}: overrides");
    assert_eq!(updated.carries_in, full.carries_in, "{what}: carries in");
    let (u, f) = (&updated.output, &full.output);
    assert_eq!(u.active, f.active, "{what}: active");
    assert_eq!(u.paid_as, f.paid_as, "{what}: paid_as");
    assert_eq!(u.highest, f.highest, "{what}: highest");
    for (b, (ub, fb)) in u.bonuses.iter().zip(&f.bonuses).enumerate() {
        assert_eq!(ub.amount, fb.amount, "{what}: bonus {b} amounts");
        assert_eq!(ub.carry, fb.carry, "{what}: bonus {b} carries");
    }
    assert_eq!(updated.detail.group_pv, full.detail.group_pv, "{what}: group PV");
    assert_eq!(updated.detail.subtree_best, full.detail.subtree_best, "{what}: subtree best");
    assert_eq!(updated.detail.new_legs, full.detail.new_legs, "{what}: new legs");
}

/// Random rounds of changes (orders, returns that may go below zero, status flips, tiers, overrides),
/// each brought into one view by `update` and compared with a view computed whole.
fn updates_equal_whole_views(g: Arc<Genealogy>, plan: &PlanSpec, seed: u64, rounds: usize) {
    updates_from(g, plan, seed, rounds, 600)
}

/// [`updates_equal_whole_views`] from a start where `density` per mille of the members have volume (0:
/// a live period's start, every member inactive and nothing to pass up).
fn updates_from(g: Arc<Genealogy>, plan: &PlanSpec, seed: u64, rounds: usize, density: u64) {
    let mut run = RandomRun::new(&g, plan, seed, density);
    let mut view = View::compute(g.clone(), plan, run.inputs.clone(), &run.carried).unwrap();
    for round in 0..rounds {
        let rows = run.round(plan);
        let changes = run.changes(rows);
        assert!(view.update(plan, &changes, &run.carried).unwrap(), "round {round}: update refused");
        let full = View::compute(g.clone(), plan, run.inputs.clone(), &run.carried).unwrap();
        assert_same_view(&view, &full, &format!("seed {seed} round {round}"));
    }
}

/// A period's inputs changed at random, round by round.
struct RandomRun {
    rng: SplitMix64,
    inputs: Inputs,
    carried: Carried,
}

impl RandomRun {
    const AMOUNTS: [i64; 6] = [0, 2_500, 5_000, 10_000, 20_000, 40_000];

    fn new(g: &Genealogy, plan: &PlanSpec, seed: u64, density: u64) -> RandomRun {
        let n = g.len();
        let mut rng = SplitMix64::new(seed);
        let ranks = plan.ranks.len() as u64;
        let mut inputs = Inputs {
            seq: 0,
            sums: vec![vec![0; n]; 2],
            status_active: (0..n).map(|_| rng.chance(850)).collect(),
            tier: (0..n).map(|_| if plan.tiers > 0 && rng.chance(700) { rng.below(plan.tiers as u64) as u16 } else { NO_VALUE }).collect(),
            rank_override: vec![NO_VALUE; n],
        };
        for m in 0..n {
            if rng.chance(density) {
                inputs.sums[0][m] = Self::AMOUNTS[rng.below(6) as usize];
                inputs.sums[1][m] = inputs.sums[0][m] * 4 / 5;
            }
        }
        let carries = plan
            .bonuses
            .iter()
            .map(|b| {
                matches!(b, BonusRule::Binary(_)).then(|| {
                    let mut carry = || (0..n).map(|_| if rng.chance(300) { rng.below(30_000) as i64 } else { 0 }).collect::<Vec<i64>>();
                    (carry(), carry())
                })
            })
            .collect();
        let carried = Carried { prev_highest: (0..n).map(|_| if rng.chance(100) { rng.below(ranks) as u16 } else { 0 }).collect(), carries };
        RandomRun { rng, inputs, carried }
    }

    /// Changes up to an eighth of the members (orders, returns that may go below zero, status flips,
    /// tiers, overrides, or nothing); returns the rows listed, unsorted.
    fn round(&mut self, plan: &PlanSpec) -> Vec<u32> {
        let (rng, inputs) = (&mut self.rng, &mut self.inputs);
        let n = inputs.status_active.len();
        let ranks = plan.ranks.len() as u64;
        let touched = 1 + rng.below((n as u64 / 8).max(1)) as usize;
        let mut rows = Vec::new();
        for _ in 0..touched {
            let m = rng.below(n as u64) as usize;
            rows.push(m as u32);
            match rng.below(12) {
                0..=5 => {
                    let pv = Self::AMOUNTS[rng.below(6) as usize];
                    inputs.sums[0][m] += pv;
                    inputs.sums[1][m] += pv * 4 / 5 + rng.below(3) as i64 * 100;
                }
                6 | 7 => {
                    inputs.sums[0][m] -= Self::AMOUNTS[rng.below(6) as usize];
                    inputs.sums[1][m] -= Self::AMOUNTS[rng.below(6) as usize] / 2;
                }
                8 => inputs.status_active[m] = !inputs.status_active[m],
                9 if plan.tiers > 0 => {
                    inputs.tier[m] = if rng.chance(200) { NO_VALUE } else { rng.below(plan.tiers as u64) as u16 }
                }
                10 => inputs.rank_override[m] = if rng.chance(500) { NO_VALUE } else { rng.below(ranks) as u16 },
                _ => {} // listed, unchanged
            }
        }
        inputs.seq += touched as u64;
        rows
    }

    /// The inputs of `rows` now, as `LiveState::changes` lays them out.
    fn changes(&self, mut rows: Vec<u32>) -> Changes {
        rows.sort_unstable();
        rows.dedup();
        let inputs = &self.inputs;
        Changes {
            seq: inputs.seq,
            sums: inputs.sums.iter().map(|c| rows.iter().map(|&r| c[r as usize]).collect()).collect(),
            status_active: rows.iter().map(|&r| inputs.status_active[r as usize]).collect(),
            tier: rows.iter().map(|&r| inputs.tier[r as usize]).collect(),
            rank_override: rows.iter().map(|&r| inputs.rank_override[r as usize]).collect(),
            rows,
        }
    }
}

#[test]
fn two_views_taking_turns_equal_whole_views() {
    // As the binding runs them: the view published before the current one is updated with the rows of
    // two rounds (pending and new), a copy of the first view is the first to update.
    for (seed, plan) in [(31, example_plan()), (32, package_plan())] {
        let g = random_genealogy(900, seed, seed % 2 == 0);
        let mut run = RandomRun::new(&g, &plan, seed, 0);
        let mut front = View::compute(g.clone(), &plan, run.inputs.clone(), &run.carried).unwrap();
        front.prepare_updates(&plan);
        let mut back = front.clone();
        let mut pending: Vec<u32> = Vec::new();
        for round in 0..8 {
            let rows = run.round(&plan);
            let mut both = pending.clone();
            both.extend_from_slice(&rows);
            assert!(back.update(&plan, &run.changes(both), &run.carried).unwrap());
            let full = View::compute(g.clone(), &plan, run.inputs.clone(), &run.carried).unwrap();
            assert_same_view(&back, &full, &format!("seed {seed} round {round}"));
            std::mem::swap(&mut front, &mut back);
            pending = rows;
        }
    }
}

/// A plan whose only level bonus is matching with compression and activity required, on a binary
/// bonus that pays inactive members: members enter the tracked set only through binary pay.
fn matching_only_plan() -> PlanSpec {
    let mut plan = passive_binary_plan();
    plan.bonuses.remove(1);
    if let BonusRule::Level(rule) = &mut plan.bonuses[1] {
        rule.base = Base::BonusPay(0);
    }
    plan
}

#[test]
fn updates_near_the_int64_bounds_are_exact_or_refused() {
    // A (row 0) sponsors U only (its left leg); U sponsors U1 and U2; each Ui sponsors two recruits,
    // left and right. Sponsor and placement trees alike.
    use crate::genealogy::{build_genealogy, BuildOptions};
    use crate::keys::{IntKeys, OwnedStrKeys};
    let ids: Vec<i64> = (0..8).collect();
    let up = [0i64, 0, 1, 1, 2, 2, 3, 3];
    let valid = [0b1111_1110u8];
    let legs = OwnedStrKeys::new(&[None, Some("L"), Some("L"), Some("R"), Some("L"), Some("R"), Some("L"), Some("R")]);
    let keys = IntKeys { values: &up, validity: Some(Validity { bits: &valid, offset: 0 }) };
    let g = Arc::new(build_genealogy(&IntKeys { values: &ids, validity: None }, &keys, &keys, &legs.view(), BuildOptions::default()).unwrap().0);
    let mut plan = example_plan();
    if let BonusRule::Binary(rule) = &mut plan.bonuses[0] {
        rule.cap_by_rank = vec![None; 4];
    }
    let max = i64::MAX;
    let n = 8;
    let carried = Carried { prev_highest: vec![0; n], carries: vec![Some((vec![0; n], vec![0; n])), None, None] };
    let start = |pv: Vec<i64>, bv: Vec<i64>| Inputs {
        seq: 0,
        sums: vec![pv, bv],
        status_active: vec![true; n],
        tier: vec![NO_VALUE; n],
        rank_override: vec![NO_VALUE; n],
    };
    let change = |plan: &PlanSpec, view: &mut View, rows: Vec<u32>, pv: &[i64], bv: &[i64]| -> bool {
        let changes = Changes {
            seq: 1,
            sums: vec![rows.iter().map(|&r| pv[r as usize]).collect(), rows.iter().map(|&r| bv[r as usize]).collect()],
            status_active: vec![true; rows.len()],
            tier: vec![NO_VALUE; rows.len()],
            rank_override: vec![NO_VALUE; rows.len()],
            rows,
        };
        view.update(plan, &changes, &carried).unwrap()
    };
    let pv = vec![20_000i64; n];
    // 1. Two recruits of U1 swap 0.9·MAX of BV in one update: what reaches U1 is 1.8·MAX part-way.
    let (before, after) = ([0, 0, 0, 0, 0, max / 10 * 9, 0, 0], [0, 0, 0, 0, max / 10 * 9, 0, 0, 0]);
    let mut view = View::compute(g.clone(), &plan, start(pv.clone(), before.to_vec()), &carried).unwrap();
    assert!(change(&plan, &mut view, vec![4, 5], &pv, &after));
    let mut whole = View::compute(g.clone(), &plan, start(pv.clone(), after.to_vec()), &carried).unwrap();
    whole.inputs.seq = 1;
    assert_same_view(&view, &whole, "BV swapped under one upline");
    // 2. The same recruits' PV goes from −0.45·MAX to +0.45·MAX each: U1's group PV moves by 1.8·MAX.
    let low = [20_000, 20_000, 20_000, 20_000, -(max / 20 * 9), -(max / 20 * 9), 20_000, 20_000];
    let high = [20_000, 20_000, 20_000, 20_000, max / 20 * 9, max / 20 * 9, 20_000, 20_000];
    let bv = vec![0i64; n];
    let mut view = View::compute(g.clone(), &plan, start(low.to_vec(), bv.clone()), &carried).unwrap();
    assert!(change(&plan, &mut view, vec![4, 5], &high, &bv));
    let mut whole = View::compute(g.clone(), &plan, start(high.to_vec(), bv.clone()), &carried).unwrap();
    whole.inputs.seq = 1;
    assert_same_view(&view, &whole, "group PV swung by 1.8·MAX");
    // 3. U1 and U2 each earn 0.6·MAX of binary pay (4 per pair of 1); U is inactive, so both reach A
    // on matching's first level: 1.2·MAX, which the whole period sums in i128. The update refuses.
    if let BonusRule::Binary(rule) = &mut plan.bonuses[0] {
        (rule.rate_bp, rule.pay_per_pair, rule.pair_unit) = (None, Some(4), 1);
    }
    let mut pv = vec![20_000i64; n];
    pv[1] = 0;
    let quarter = max / 20 * 3;
    let big = [0, 0, 0, 0, quarter, quarter, quarter, quarter];
    let mut view = View::compute(g.clone(), &plan, start(pv.clone(), vec![0; n]), &carried).unwrap();
    assert!(!change(&plan, &mut view, vec![4, 5, 6, 7], &pv, &big), "an update whose matching sums leave int64 is refused");
    let whole = View::compute(g.clone(), &plan, start(pv, big.to_vec()), &carried).unwrap();
    assert_eq!(whole.output.bonuses[0].amount[2], 4 * quarter);
}

#[test]
fn updated_views_equal_whole_views_on_the_example_plan() {
    for (seed, n, shuffled) in [(1, 300, false), (2, 300, true), (3, 2_000, false), (4, 2_000, true), (5, 40, false)] {
        updates_equal_whole_views(random_genealogy(n, seed, shuffled), &example_plan(), seed, 10);
    }
}

#[test]
fn updated_views_equal_whole_views_on_package_and_leg_plans() {
    for (seed, n, shuffled) in [(11, 500, false), (12, 500, true), (13, 1_500, true)] {
        updates_equal_whole_views(random_genealogy(n, seed, shuffled), &package_plan(), seed, 10);
        updates_equal_whole_views(random_genealogy(n, seed + 100, shuffled), &legs_only_plan(), seed, 10);
        updates_equal_whole_views(random_genealogy(n, seed + 200, shuffled), &passive_binary_plan(), seed, 10);
        // From a period's start: the tracked set grows from nothing.
        updates_from(random_genealogy(n, seed + 300, shuffled), &passive_binary_plan(), seed, 10, 0);
        updates_from(random_genealogy(n, seed + 400, shuffled), &example_plan(), seed, 10, 0);
        updates_from(random_genealogy(n, seed + 500, shuffled), &matching_only_plan(), seed, 10, 0);
    }
}

#[test]
fn updates_walk_a_long_chain_without_recursion() {
    // One line of 200,000 members, sponsor and placement alike: every change walks the whole chain.
    use crate::genealogy::{build_genealogy, BuildOptions};
    use crate::keys::{IntKeys, OwnedStrKeys};
    let n = 200_000usize;
    let ids: Vec<i64> = (0..n as i64).collect();
    let up: Vec<i64> = (0..n as i64).map(|i| (i - 1).max(0)).collect();
    let mut valid = vec![0xFFu8; n.div_ceil(8)];
    valid[0] &= !1;
    let legs = OwnedStrKeys::new(&(0..n).map(|i| if i == 0 { None } else { Some("L") }).collect::<Vec<_>>());
    let v = Some(Validity { bits: &valid, offset: 0 });
    let member = IntKeys { values: &ids, validity: None };
    let keys = IntKeys { values: &up, validity: v };
    let g = Arc::new(build_genealogy(&member, &keys, &keys, &legs.view(), BuildOptions::default()).unwrap().0);
    updates_equal_whole_views(g, &example_plan(), 9, 3);
}

#[test]
fn changes_out_of_order_are_an_error_not_a_wrong_view() {
    let plan = example_plan();
    let g = random_genealogy(50, 3, false);
    let n = g.len();
    let inputs = Inputs { seq: 0, sums: vec![vec![0; n]; 2], status_active: vec![true; n], tier: vec![NO_VALUE; n], rank_override: vec![NO_VALUE; n] };
    let carried = Carried { prev_highest: vec![0; n], carries: vec![Some((vec![0; n], vec![0; n])), None, None] };
    let mut view = View::compute(g, &plan, inputs, &carried).unwrap();
    let changes = Changes {
        seq: 2,
        rows: vec![7, 3],
        sums: vec![vec![100, 100], vec![80, 80]],
        status_active: vec![true; 2],
        tier: vec![NO_VALUE; 2],
        rank_override: vec![NO_VALUE; 2],
    };
    assert!(view.update(&plan, &changes, &carried).is_err());
}
