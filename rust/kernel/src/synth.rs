//! Synthetic network shapes (issue 2): heavy-tailed sponsoring and binary spillover placement inside the
//! sponsor's own placement subtree. Deterministic by seed; rows come out in join order.
use crate::error::{invalid, Result};
use crate::genealogy::NONE;
use crate::rng::SplitMix64;

/// Sponsors for `n` members joining in row order; row 0 is the root (`NONE`). A member's sponsor is
/// drawn by preferential attachment (a member is as likely to sponsor again as it has sponsored already:
/// a few big builders, most with 0–3 recruits), from the recent joiners (chains of recruits: depth), or
/// uniformly.
pub fn sponsors(n: usize, seed: u64) -> Result<Vec<u32>> {
    if n > crate::genealogy::MAX_MEMBERS {
        return Err(invalid(format!("{n} members is too many")));
    }
    let mut rng = SplitMix64::new(seed);
    let mut sponsor = vec![NONE; n];
    // One ticket per member plus one per recruit it has: drawing a ticket is preferential attachment.
    let mut tickets: Vec<u32> = Vec::with_capacity(2 * n);
    let mut builder = vec![false; n];
    if n > 0 {
        tickets.push(0);
    }
    for j in 1..n {
        let roll = rng.below(100);
        let s = if roll < 60 {
            tickets[rng.below(tickets.len() as u64) as usize]
        } else if roll < 90 {
            (j as u64 - 1 - rng.below((j as u64).min(64))) as u32
        } else {
            rng.below(j as u64) as u32
        };
        sponsor[j] = s;
        // Builders (2% of joiners) draw recruits far more often than the rest.
        builder[j] = rng.chance(20);
        tickets.extend(std::iter::repeat_n(j as u32, if builder[j] { 6 } else { 1 }));
        tickets.extend(std::iter::repeat_n(s, if builder[s as usize] { 3 } else { 1 }));
    }
    Ok(sponsor)
}

/// Places members (in row order, sponsors first) in a binary tree: a recruit goes to its sponsor's
/// empty slot on the chosen side, else spills over: half the time to the bottom of the sponsor's outer
/// leg on that side, half the time down a random path under that side. Returns placement parents and
/// legs (1 = L, 2 = R; 0 for a root).
pub fn spillover_placement(sponsor: &[u32], seed: u64) -> Result<(Vec<u32>, Vec<u8>)> {
    let n = sponsor.len();
    let mut rng = SplitMix64::new(seed ^ 0xB1A5);
    let mut child = [vec![NONE; n], vec![NONE; n]];
    // Shortcut down an outer leg, kept short by path compression (slots only ever fill, so it stays valid).
    let mut jump = [vec![NONE; n], vec![NONE; n]];
    let mut parent = vec![NONE; n];
    let mut leg = vec![0u8; n];
    let mut recruits = vec![0u32; n];
    let mut path = Vec::new();
    for j in 0..n {
        let s = sponsor[j];
        if s == NONE {
            continue;
        }
        let s = s as usize;
        if s >= j {
            return Err(invalid(format!("member row {j} has sponsor row {s}: sponsors must come first")));
        }
        let mut side = (recruits[s] & 1) as usize;
        recruits[s] += 1;
        if rng.chance(150) {
            side ^= 1;
        }
        let (at, d) = if child[side][s] == NONE {
            (s, side)
        } else if rng.chance(500) {
            (outer_bottom(&child[side], &mut jump[side], s, &mut path), side)
        } else {
            let mut x = child[side][s] as usize;
            loop {
                let d = rng.below(2) as usize;
                if child[d][x] == NONE {
                    break (x, d);
                }
                x = child[d][x] as usize;
            }
        };
        child[d][at] = j as u32;
        parent[j] = at as u32;
        leg[j] = d as u8 + 1;
    }
    Ok((parent, leg))
}

fn outer_bottom(child: &[u32], jump: &mut [u32], start: usize, path: &mut Vec<usize>) -> usize {
    path.clear();
    let mut x = start;
    while child[x] != NONE {
        path.push(x);
        x = if jump[x] != NONE { jump[x] as usize } else { child[x] as usize };
    }
    for &p in path.iter() {
        jump[p] = x as u32;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sponsors_come_first_and_are_heavy_tailed() {
        let s = sponsors(20_000, 3).unwrap();
        assert_eq!(s[0], NONE);
        assert!(s.iter().enumerate().skip(1).all(|(j, &p)| (p as usize) < j));
        let mut recruits = vec![0u32; s.len()];
        for &p in &s[1..] {
            recruits[p as usize] += 1;
        }
        let few = recruits.iter().filter(|&&r| r <= 3).count();
        let max = *recruits.iter().max().unwrap();
        assert!(few as f64 > 0.85 * s.len() as f64, "most members recruit 0-3: {few}");
        assert!(max > 100, "a few big builders: max {max}");
        assert_eq!(s, sponsors(20_000, 3).unwrap());
        assert_ne!(s, sponsors(20_000, 4).unwrap());
    }

    #[test]
    fn placement_is_binary_and_inside_sponsor_subtree() {
        let s = sponsors(5_000, 9).unwrap();
        let (p, leg) = spillover_placement(&s, 9).unwrap();
        let mut taken = std::collections::HashSet::new();
        for j in 1..s.len() {
            assert!((p[j] as usize) < j);
            assert!(leg[j] == 1 || leg[j] == 2);
            assert!(taken.insert((p[j], leg[j])), "slot used twice");
            // Walk up the placement tree from the parent: the sponsor must be on the way.
            let mut x = p[j];
            while x != s[j] && x != NONE {
                x = p[x as usize];
            }
            assert_eq!(x, s[j], "member {j} placed outside its sponsor's subtree");
        }
    }

    #[test]
    fn placement_rejects_sponsor_after_member() {
        assert!(spillover_placement(&[NONE, 2, 0], 1).is_err());
    }
}
