//! Strict ISO 8601 timestamps into microseconds since the epoch.
//!
//! `YYYY-MM-DD`, optionally `T` (or a space) and `HH:MM[:SS[.fraction]]`, optionally an offset `Z` or
//! `±HH[:MM]` / `±HHMM` (a space may precede it). Calendar ranges are checked (no 30 February, no hour 24,
//! no leap second). A fraction beyond microseconds must be zeros: nothing is rounded. A value without an
//! offset is returned as its wall-clock time read as UTC and flagged naive; the caller applies a zone.
use crate::keys::{Offset, StrKeys};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TimestampCode {
    Zoned = 0,
    Null = 1,
    Invalid = 2,
    Naive = 3,
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = b.get(at..at + n)?;
    part.iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

fn leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One value: `(microseconds, has_offset)` or `None` when it is not a valid timestamp.
pub fn parse_iso(b: &[u8]) -> Option<(i64, bool)> {
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (digits(b, 5, 2)?, digits(b, 8, 2)?);
    if year == 0 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut micros = days_from_civil(year, month, day) * 86_400_000_000;
    let mut i = 10;
    if i == b.len() {
        return Some((micros, false));
    }
    if !matches!(b[i], b'T' | b't' | b' ') {
        return None;
    }
    i += 1;
    let hour = digits(b, i, 2)?;
    if b.get(i + 2) != Some(&b':') {
        return None;
    }
    let minute = digits(b, i + 3, 2)?;
    i += 5;
    let mut second = 0;
    let mut fraction = 0i64;
    if b.get(i) == Some(&b':') {
        second = digits(b, i + 1, 2)?;
        i += 3;
        if matches!(b.get(i), Some(b'.') | Some(b',')) {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                let d = i64::from(b[i] - b'0');
                let k = i - start;
                if k < 6 {
                    fraction += d * 10i64.pow(5 - k as u32);
                } else if d != 0 {
                    return None; // below a microsecond: would have to be rounded
                }
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    micros += ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction;
    if i == b.len() {
        return Some((micros, false));
    }
    if b[i] == b' ' {
        i += 1;
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let rest = &b[i + 3..];
            let om = match rest {
                [] => 0,
                [b':', _, _] => digits(rest, 1, 2)?,
                [_, _] => digits(rest, 0, 2)?,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let total = oh * 60 + om;
            if sign == b'+' { total } else { -total }
        }
        _ => return None,
    };
    Some((micros - offset_minutes * 60_000_000, true))
}

/// A whole column: microseconds (0 where not parsed) and one [`TimestampCode`] per row.
pub fn parse_iso_column<O: Offset + Sync>(text: &StrKeys<'_, O>) -> (Vec<i64>, Vec<u8>) {
    super::parse_rows(text, |_, value| match value.map(parse_iso) {
        None => (0, TimestampCode::Null as u8),
        Some(Some((us, true))) => (us, TimestampCode::Zoned as u8),
        Some(Some((us, false))) => (us, TimestampCode::Naive as u8),
        Some(None) => (0, TimestampCode::Invalid as u8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(i64, bool)> {
        parse_iso(s.as_bytes())
    }

    #[test]
    fn valid_forms() {
        assert_eq!(p("1970-01-01"), Some((0, false)));
        assert_eq!(p("1970-01-01T00:00:01Z"), Some((1_000_000, true)));
        assert_eq!(p("2024-01-05T19:00:00+09:00"), Some((1_704_448_800_000_000, true)));
        assert_eq!(p("2024-01-05 10:00:00 +0000"), Some((1_704_448_800_000_000, true)));
        assert_eq!(p("2024-01-05T05:00-05"), Some((1_704_448_800_000_000, true)));
        assert_eq!(p("2024-02-01T00:00:00.250+01:00"), Some((1_706_742_000_250_000, true)));
        assert_eq!(p("2024-02-29 00:00:00.123456000"), Some((1_709_164_800_123_456, false)));
        assert_eq!(p("1969-12-31T23:59:59.999999Z"), Some((-1, true)));
        assert_eq!(p("0001-01-01"), Some((-62_135_596_800_000_000, false)));
    }

    #[test]
    fn invalid_forms() {
        for bad in [
            "", "2024", "2024-1-05", "2024-02-30", "2023-02-29", "2024-13-01", "2024-00-10", "0000-01-01",
            "2024-01-05T24:00:00", "2024-01-05T10:60", "2024-01-05T10:00:60", "2024-01-05T10", "2024-01-05T",
            "2024-01-05X10:00", "2024-01-05T10:00:00.", "2024-01-05T10:00:00.1234567", "2024-01-05T10:00:00+24:00",
            "2024-01-05T10:00:00+05:3", "2024-01-05T10:00:00Zz", "2024-01-05Z", "2024-01-05T10:00:00 ", " 2024-01-05",
            "2024-01-05T10:00:00+0530x", "٢٠٢٤-01-05",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn days_match_a_day_by_day_walk() {
        let mut days = 0i64;
        for y in 1970..2101 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
                    days += 1;
                }
            }
        }
    }
}
