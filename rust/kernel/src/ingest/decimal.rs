//! Exact decimal text into integer minor units: `"12.34"` at scale 2 is `1234`, never through a float.
//!
//! Accepted: an optional sign, digits (optionally grouped by a thousands separator in groups of three),
//! an optional decimal separator and fraction. Digits beyond the scale are rejected when any is non-zero
//! (the value would have to be rounded), and in strict mode even when they are zeros. NaN, infinities,
//! exponents, empty text and values outside int64 are rejected with their own code; an integer part beyond
//! 2^63 is `overflow` before any other check.
use crate::keys::{Offset, StrKeys};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DecimalCode {
    Ok = 0,
    Null = 1,
    Empty = 2,
    Invalid = 3,
    NotFinite = 4,
    TooManyDecimals = 5,
    Overflow = 6,
}

impl DecimalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DecimalCode::Ok => "ok",
            DecimalCode::Null => "null",
            DecimalCode::Empty => "empty",
            DecimalCode::Invalid => "not_a_decimal",
            DecimalCode::NotFinite => "not_finite",
            DecimalCode::TooManyDecimals => "too_many_decimals",
            DecimalCode::Overflow => "overflow",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DecimalFormat {
    pub decimal: u8,
    pub group: Option<u8>,
    /// Reject any digit beyond the scale, zeros included.
    pub strict: bool,
}

impl Default for DecimalFormat {
    fn default() -> Self {
        DecimalFormat { decimal: b'.', group: None, strict: false }
    }
}

const POW10: [i128; 19] = {
    let mut p = [1i128; 19];
    let mut k = 1;
    while k < 19 {
        p[k] = p[k - 1] * 10;
        k += 1;
    }
    p
};

pub const MAX_SCALE: u8 = 18;

fn not_finite(text: &[u8]) -> bool {
    let t = text.strip_prefix(b"+").or_else(|| text.strip_prefix(b"-")).unwrap_or(text);
    [b"nan".as_slice(), b"inf", b"infinity"].iter().any(|w| t.eq_ignore_ascii_case(w))
}

/// One value. `scale` is the number of decimals of the minor unit (2 for cents, 0 for yen).
pub fn parse_minor(text: &[u8], scale: u8, format: DecimalFormat) -> Result<i64, DecimalCode> {
    if text.is_empty() {
        return Err(DecimalCode::Empty);
    }
    if scale > MAX_SCALE {
        return Err(DecimalCode::Invalid);
    }
    let (negative, body) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i128 = 0;
    let mut int_digits = 0usize;
    let mut i = 0;
    // Integer part, with group separators checked for groups of three.
    let mut group_len: Option<usize> = None; // digits since the last separator, once one was seen
    let mut first_group = 0usize;
    while i < body.len() {
        let b = body[i];
        if b.is_ascii_digit() {
            value = value * 10 + i128::from(b - b'0');
            // One past i64::MAX still fits once negated (i64::MIN); the final conversion decides.
            if value > i128::from(i64::MAX) + 1 {
                return Err(DecimalCode::Overflow);
            }
            int_digits += 1;
            match group_len.as_mut() {
                Some(g) => *g += 1,
                None => first_group += 1,
            }
        } else if Some(b) == format.group {
            let ok = match group_len {
                None => (1..=3).contains(&first_group),
                Some(g) => g == 3,
            };
            if !ok {
                return Err(DecimalCode::Invalid);
            }
            group_len = Some(0);
        } else {
            break;
        }
        i += 1;
    }
    if group_len.is_some_and(|g| g != 3) {
        return Err(DecimalCode::Invalid);
    }
    let mut frac_digits = 0usize;
    let mut excess_nonzero = false;
    if i < body.len() {
        if body[i] != format.decimal {
            return Err(if not_finite(text) { DecimalCode::NotFinite } else { DecimalCode::Invalid });
        }
        i += 1;
        while i < body.len() {
            let b = body[i];
            if !b.is_ascii_digit() {
                return Err(DecimalCode::Invalid);
            }
            if frac_digits < scale as usize {
                value = value * 10 + i128::from(b - b'0');
            } else if b != b'0' || format.strict {
                excess_nonzero = true;
            }
            frac_digits += 1;
            i += 1;
        }
    }
    if int_digits + frac_digits == 0 {
        return Err(if not_finite(text) { DecimalCode::NotFinite } else { DecimalCode::Invalid });
    }
    if excess_nonzero {
        return Err(DecimalCode::TooManyDecimals);
    }
    if frac_digits < scale as usize {
        value *= POW10[scale as usize - frac_digits];
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| DecimalCode::Overflow)
}

/// A whole column: values (0 where not Ok) and one code per row. `scales` is one scale for every row or
/// one per row (a currency's minor unit).
pub fn parse_minor_column<O: Offset + Sync>(
    text: &StrKeys<'_, O>,
    scales: &[u8],
    format: DecimalFormat,
) -> (Vec<i64>, Vec<u8>) {
    super::parse_rows(text, |row, value| {
        let scale = if scales.len() == 1 { scales[0] } else { scales[row] };
        match value {
            None => (0, DecimalCode::Null as u8),
            Some(bytes) => match parse_minor(bytes, scale, format) {
                Ok(v) => (v, DecimalCode::Ok as u8),
                Err(code) => (0, code as u8),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str, scale: u8) -> Result<i64, DecimalCode> {
        parse_minor(text.as_bytes(), scale, DecimalFormat::default())
    }

    #[test]
    fn exact_values() {
        assert_eq!(p("12.34", 2), Ok(1234));
        assert_eq!(p("-0.01", 2), Ok(-1));
        assert_eq!(p("+7", 2), Ok(700));
        assert_eq!(p("7.5", 2), Ok(750));
        assert_eq!(p(".5", 2), Ok(50));
        assert_eq!(p("5.", 2), Ok(500));
        assert_eq!(p("1.230", 2), Ok(123));
        assert_eq!(p("-0", 2), Ok(0));
        assert_eq!(p("1500", 0), Ok(1500));
        assert_eq!(p("92233720368547758.07", 2), Ok(i64::MAX));
        assert_eq!(p("-92233720368547758.08", 2), Ok(i64::MIN));
        assert_eq!(p("-9223372036854775808", 0), Ok(i64::MIN));
        assert_eq!(p("9223372036854775808", 0), Err(DecimalCode::Overflow));
        assert_eq!(p("0.1", 18), Ok(100_000_000_000_000_000));
    }

    #[test]
    fn rejections() {
        assert_eq!(p("", 2), Err(DecimalCode::Empty));
        assert_eq!(p("1.234", 2), Err(DecimalCode::TooManyDecimals));
        assert_eq!(p("1.5", 0), Err(DecimalCode::TooManyDecimals));
        assert_eq!(p("92233720368547758.08", 2), Err(DecimalCode::Overflow));
        assert_eq!(p("99999999999999999999999999999999999999999", 2), Err(DecimalCode::Overflow));
        for bad in ["NaN", "-inf", "Infinity", "+INF"] {
            assert_eq!(p(bad, 2), Err(DecimalCode::NotFinite), "{bad}");
        }
        for bad in ["1e3", "1,000", "--1", "-", "+", ".", "1.2.3", " 1", "1 ", "0x10", "1_000", "١٢"] {
            assert_eq!(p(bad, 2), Err(DecimalCode::Invalid), "{bad}");
        }
        let strict = DecimalFormat { strict: true, ..DecimalFormat::default() };
        assert_eq!(parse_minor(b"1.230", 2, strict), Err(DecimalCode::TooManyDecimals));
        assert_eq!(parse_minor(b"1.23", 2, strict), Ok(123));
    }

    #[test]
    fn european_grouping() {
        let eu = DecimalFormat { decimal: b',', group: Some(b'.'), strict: false };
        assert_eq!(parse_minor(b"1.234.567,89", 2, eu), Ok(123_456_789));
        assert_eq!(parse_minor(b"999,5", 2, eu), Ok(99_950));
        for bad in ["1.23,00", "12.3456,00", ".123,00", "1..234,00", "1.234.", "1234.567"] {
            assert_eq!(parse_minor(bad.as_bytes(), 2, eu), Err(DecimalCode::Invalid), "{bad}");
        }
    }

    /// Against a slow reference: every decimal with up to 4 fraction digits in a small range.
    #[test]
    fn matches_integer_reference() {
        for units in -20_000i64..20_000 {
            // units of 1e-4
            let abs = units.unsigned_abs();
            let text = format!("{}{}.{:04}", if units < 0 { "-" } else { "" }, abs / 10_000, abs % 10_000);
            for scale in 0u8..6 {
                let got = p(&text, scale);
                let expect = if scale >= 4 {
                    Ok(units * 10i64.pow(u32::from(scale) - 4))
                } else if units % 10i64.pow(4 - u32::from(scale)) == 0 {
                    Ok(units / 10i64.pow(4 - u32::from(scale)))
                } else {
                    Err(DecimalCode::TooManyDecimals)
                };
                assert_eq!(got, expect, "{text} at scale {scale}");
            }
        }
    }
}
