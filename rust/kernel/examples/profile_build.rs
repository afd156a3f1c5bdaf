use std::time::Instant;
use mlm_kernel::keys::{OwnedStrKeys};
use mlm_kernel::*;
fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(10_000_000);
    let s = synth::sponsors(n, 1).unwrap();
    let (p, l) = synth::spillover_placement(&s, 1).unwrap();
    let id = |i: u32| if i == NONE { None } else { Some(format!("M{:08}", i + 1)) };
    let m = OwnedStrKeys::new(&(0..n as u32).map(id).collect::<Vec<_>>());
    let sp = OwnedStrKeys::new(&s.iter().map(|&x| id(x)).collect::<Vec<_>>());
    let pl = OwnedStrKeys::new(&p.iter().map(|&x| id(x)).collect::<Vec<_>>());
    let lg = OwnedStrKeys::new(&l.iter().map(|&x| match x { 1 => Some("L"), 2 => Some("R"), _ => None }).collect::<Vec<_>>());
    let t = Instant::now();
    let (g, w) = build_genealogy(&m.view(), &sp.view(), &pl.view(), &lg.view(), BuildOptions::default()).unwrap();
    eprintln!("build {:?} warnings {}", t.elapsed(), w.len());
    let v: Vec<i64> = (0..n as i64).collect();
    for _ in 0..3 {
        let t = Instant::now();
        let _ = g.leg_volumes(&v).unwrap();
        eprintln!("leg_volumes {:?}", t.elapsed());
        let t = Instant::now();
        let _ = g.rollup(Tree::Placement, RollupOp::Sum, Some(&v)).unwrap();
        eprintln!("placement sum {:?}", t.elapsed());
        let t = Instant::now();
        let _ = g.rollup(Tree::Sponsor, RollupOp::Sum, Some(&v)).unwrap();
        eprintln!("sponsor sum {:?}", t.elapsed());
    }
}
