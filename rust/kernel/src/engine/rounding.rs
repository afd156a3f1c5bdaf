//! The three rounding modes of the plan spec ("Rounding"), applied once per (member, bonus, period) to an
//! exact numerator over 10 000.
use crate::error::{KernelError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Toward negative infinity (the default).
    Floor,
    /// Half away from zero.
    HalfUp,
    /// Half to even (banker's).
    HalfEven,
}

/// `numerator / denominator` rounded by `mode`; `denominator` > 0.
pub fn div_round(numerator: i128, denominator: i128, mode: Rounding) -> i128 {
    let floor = numerator.div_euclid(denominator);
    let twice_rest = 2 * numerator.rem_euclid(denominator);
    match mode {
        Rounding::Floor => floor,
        _ if twice_rest < denominator => floor,
        _ if twice_rest > denominator => floor + 1,
        // An exact half: away from zero, or to the even neighbour.
        Rounding::HalfUp => floor + (numerator > 0) as i128,
        Rounding::HalfEven => floor + (floor % 2 != 0) as i128,
    }
}

/// `div_round(numerator, 10_000, mode)` for a numerator that fits i64: the constant divisor becomes a
/// multiply, where an i128 division is a library call (the cost of rounding 10M members per bonus).
#[inline]
fn div_round_10k(numerator: i64, mode: Rounding) -> i64 {
    const D: i64 = 10_000;
    let floor = numerator.div_euclid(D);
    let twice_rest = 2 * numerator.rem_euclid(D);
    match mode {
        Rounding::Floor => floor,
        _ if twice_rest < D => floor,
        _ if twice_rest > D => floor + 1,
        Rounding::HalfUp => floor + (numerator > 0) as i64,
        Rounding::HalfEven => floor + (floor % 2 != 0) as i64,
    }
}

/// Minor units from a numerator in ten-thousandths, rounded, and required to fit int64.
#[inline]
pub fn to_minor(numerator: i128, mode: Rounding, what: impl FnOnce() -> String) -> Result<i64> {
    if let Ok(small) = i64::try_from(numerator) {
        // |small / 10 000| + 1 cannot overflow i64.
        return Ok(div_round_10k(small, mode));
    }
    i64::try_from(div_round(numerator, 10_000, mode))
        .map_err(|_| KernelError::Overflow { context: what(), row: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_by_hand() {
        let cases: [(i128, i128, i128, i128); 8] = [
            // numerator, floor, half_up, half_even  (over 10 000)
            (25_000, 2, 3, 2),
            (35_000, 3, 4, 4),
            (-25_000, -3, -3, -2),
            (-35_000, -4, -4, -4),
            (24_999, 2, 2, 2),
            (25_001, 2, 3, 3),
            (-24_999, -3, -2, -2),
            (0, 0, 0, 0),
        ];
        for (n, floor, half_up, half_even) in cases {
            assert_eq!(div_round(n, 10_000, Rounding::Floor), floor, "floor {n}");
            assert_eq!(div_round(n, 10_000, Rounding::HalfUp), half_up, "half_up {n}");
            assert_eq!(div_round(n, 10_000, Rounding::HalfEven), half_even, "half_even {n}");
        }
    }

    #[test]
    fn the_i64_path_agrees_with_the_i128_one() {
        let mut values: Vec<i64> = vec![i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 0, 1, -1];
        for k in -40i64..=40 {
            for r in [0i64, 1, 4_999, 5_000, 5_001, 9_999] {
                values.push(k * 10_000 + r);
                values.push(-(k * 10_000 + r));
            }
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x as i64 >> (x % 60));
        }
        for v in values {
            for mode in [Rounding::Floor, Rounding::HalfUp, Rounding::HalfEven] {
                let slow = i64::try_from(div_round(i128::from(v), 10_000, mode)).unwrap();
                assert_eq!(div_round_10k(v, mode), slow, "{v} {mode:?}");
                assert_eq!(to_minor(i128::from(v), mode, || "x".into()).unwrap(), slow);
            }
        }
    }

    #[test]
    fn overflow_is_an_error() {
        assert!(to_minor(i128::from(i64::MAX) * 10_000 + 10_000, Rounding::Floor, || "x".into()).is_err());
        assert_eq!(to_minor(i128::from(i64::MIN) * 10_000, Rounding::Floor, || "x".into()).unwrap(), i64::MIN);
    }
}
