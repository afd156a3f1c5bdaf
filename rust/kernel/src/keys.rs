//! Borrowed, zero-copy views of an id column (int64 or UTF-8 with i32/i64 offsets) and its validity
//! bitmap, laid out as Arrow lays them out, without depending on Arrow.
use std::hash::Hash;

/// An Arrow-style validity bitmap: bit `offset + i` (LSB first) set means row `i` is present.
#[derive(Debug, Clone, Copy)]
pub struct Validity<'a> {
    pub bits: &'a [u8],
    pub offset: usize,
}

impl Validity<'_> {
    #[inline]
    pub fn is_valid(&self, row: usize) -> bool {
        let bit = self.offset + row;
        self.bits[bit >> 3] & (1 << (bit & 7)) != 0
    }
}

/// A column of member ids. `get` is `None` for a null; `display` renders a present id for a message.
pub trait KeyColumn: Sync {
    type Key<'k>: Hash + Eq + Copy + Send + Sync
    where
        Self: 'k;
    fn len(&self) -> usize;
    fn get(&self, row: usize) -> Option<Self::Key<'_>>;
    fn display(&self, row: usize) -> String;
    /// Hints that `row` will be read soon (its offset or value): the first step of a batched lookup.
    fn prefetch_row(&self, _row: usize) {}
    /// Hints that `row`'s id bytes will be read soon; `prefetch_row` came a step earlier.
    fn prefetch_key(&self, _row: usize) {}
    /// False when the column is known to hold no null (no validity bitmap): null scans can be skipped.
    fn may_have_nulls(&self) -> bool {
        true
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct IntKeys<'a> {
    pub values: &'a [i64],
    pub validity: Option<Validity<'a>>,
}

impl KeyColumn for IntKeys<'_> {
    #[inline]
    fn prefetch_row(&self, row: usize) {
        crate::id_index::prefetch(&self.values[row]);
    }
    type Key<'k> = i64 where Self: 'k;
    fn len(&self) -> usize {
        self.values.len()
    }
    fn may_have_nulls(&self) -> bool {
        self.validity.is_some()
    }
    #[inline]
    fn get(&self, row: usize) -> Option<i64> {
        match self.validity {
            Some(v) if !v.is_valid(row) => None,
            _ => Some(self.values[row]),
        }
    }
    fn display(&self, row: usize) -> String {
        match self.get(row) {
            Some(x) => x.to_string(),
            None => "null".to_string(),
        }
    }
}

/// Arrow string offsets: i32 (`string`) or i64 (`large_string`).
pub trait Offset: Copy + Sync {
    fn to_usize(self) -> usize;
}
impl Offset for i32 {
    #[inline]
    fn to_usize(self) -> usize {
        self as usize
    }
}
impl Offset for i64 {
    #[inline]
    fn to_usize(self) -> usize {
        self as usize
    }
}

/// `offsets` has `len + 1` entries into `data`, as in an Arrow string array (its slice already applied).
pub struct StrKeys<'a, O: Offset> {
    pub offsets: &'a [O],
    pub data: &'a [u8],
    pub validity: Option<Validity<'a>>,
}

impl<'a, O: Offset> StrKeys<'a, O> {
    /// Checks the offsets once so that `get` can slice without surprises.
    pub fn new(offsets: &'a [O], data: &'a [u8], validity: Option<Validity<'a>>) -> crate::error::Result<Self> {
        if offsets.is_empty() {
            return Err(crate::error::invalid("string column has no offsets"));
        }
        let mut previous = offsets[0].to_usize();
        for o in &offsets[1..] {
            let o = o.to_usize();
            if o < previous || o > data.len() {
                return Err(crate::error::invalid("string column has invalid offsets"));
            }
            previous = o;
        }
        Ok(StrKeys { offsets, data, validity })
    }

    /// Row `row`'s bytes (`None` for a null), borrowed for the column's own lifetime rather than the
    /// view's: what callers that keep the bytes in maps beyond the view need.
    #[inline]
    pub fn value(&self, row: usize) -> Option<&'a [u8]> {
        if self.validity.is_some_and(|v| !v.is_valid(row)) {
            return None;
        }
        Some(&self.data[self.offsets[row].to_usize()..self.offsets[row + 1].to_usize()])
    }
}

impl<O: Offset> KeyColumn for StrKeys<'_, O> {
    #[inline]
    fn prefetch_row(&self, row: usize) {
        crate::id_index::prefetch(&self.offsets[row]);
    }
    #[inline]
    fn prefetch_key(&self, row: usize) {
        let start = self.offsets[row].to_usize();
        if start < self.data.len() {
            crate::id_index::prefetch(&self.data[start]);
        }
    }
    type Key<'k> = &'k [u8] where Self: 'k;
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    fn may_have_nulls(&self) -> bool {
        self.validity.is_some()
    }
    #[inline]
    fn get(&self, row: usize) -> Option<&[u8]> {
        self.value(row)
    }
    fn display(&self, row: usize) -> String {
        match self.get(row) {
            Some(bytes) => format!("'{}'", String::from_utf8_lossy(bytes)),
            None => "null".to_string(),
        }
    }
}

/// Owned string keys, for tests and callers that start from Rust strings.
pub struct OwnedStrKeys {
    offsets: Vec<i64>,
    data: Vec<u8>,
    valid: Vec<u8>,
}

impl OwnedStrKeys {
    pub fn new<S: AsRef<str>>(values: &[Option<S>]) -> Self {
        let mut offsets = vec![0i64];
        let mut data = Vec::new();
        let mut valid = vec![0u8; values.len().div_ceil(8)];
        for (i, v) in values.iter().enumerate() {
            if let Some(s) = v {
                data.extend_from_slice(s.as_ref().as_bytes());
                valid[i >> 3] |= 1 << (i & 7);
            }
            offsets.push(data.len() as i64);
        }
        OwnedStrKeys { offsets, data, valid }
    }

    pub fn view(&self) -> StrKeys<'_, i64> {
        StrKeys {
            offsets: &self.offsets,
            data: &self.data,
            validity: Some(Validity { bits: &self.valid, offset: 0 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_reads_bits_with_offset() {
        let bits = [0b1010_0000u8, 0b0000_0001];
        let v = Validity { bits: &bits, offset: 5 };
        assert!(v.is_valid(0));
        assert!(!v.is_valid(1));
        assert!(v.is_valid(2));
        assert!(v.is_valid(3));
    }

    #[test]
    fn str_keys_slice_and_null() {
        let owned = OwnedStrKeys::new(&[Some("ab"), None, Some(""), Some("c")]);
        let k = owned.view();
        assert_eq!(k.len(), 4);
        assert_eq!(k.get(0), Some(&b"ab"[..]));
        assert_eq!(k.get(1), None);
        assert_eq!(k.get(2), Some(&b""[..]));
        assert_eq!(k.display(3), "'c'");
        assert_eq!(k.display(1), "null");
    }

    #[test]
    fn str_keys_reject_bad_offsets() {
        assert!(StrKeys::new(&[0i32, 3, 2], b"abc", None).is_err());
        assert!(StrKeys::new(&[0i32, 4], b"abc", None).is_err());
        assert!(StrKeys::<i32>::new(&[], b"", None).is_err());
    }
}
