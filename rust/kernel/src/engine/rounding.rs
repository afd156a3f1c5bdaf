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

/// Minor units from a numerator in ten-thousandths, rounded, and required to fit int64.
pub fn to_minor(numerator: i128, mode: Rounding, what: impl FnOnce() -> String) -> Result<i64> {
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
    fn overflow_is_an_error() {
        assert!(to_minor(i128::from(i64::MAX) * 10_000 + 10_000, Rounding::Floor, || "x".into()).is_err());
        assert_eq!(to_minor(i128::from(i64::MIN) * 10_000, Rounding::Floor, || "x".into()).unwrap(), i64::MIN);
    }
}
