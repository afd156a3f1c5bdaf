//! A strict RFC 4180 CSV reader for legacy exports.
//!
//! Unlike a lenient reader, it never guesses: a quote inside an unquoted field, text after a closing quote,
//! an unterminated quote, a record with the wrong number of fields and invalid UTF-8 each make that record a
//! [`Reject`] carrying its physical line, its ordinal and its raw bytes, and reading goes on with the next
//! line. Every data record is either in the columns or in the rejects: `records = rows + rejects.len()`.
//!
//! A UTF-8 byte-order mark is skipped, records end at `\n` or `\r\n` outside quotes, and an empty line is
//! not a record (it is counted in `blank_lines`).
use crate::error::{invalid, Result};

#[derive(Debug, Clone, Copy)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { delimiter: b',', quote: b'"' }
    }
}

/// Why a record was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    BadQuoting,
    RaggedRow,
    InvalidUtf8,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::BadQuoting => "bad_quoting",
            RejectCode::RaggedRow => "ragged_row",
            RejectCode::InvalidUtf8 => "invalid_utf8",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Physical line (1-based, the header is line 1 unless preceded by blank lines) where the record starts.
    pub line: u64,
    /// Ordinal of the data record (1-based, rejected records included).
    pub record: u64,
    pub raw: Vec<u8>,
    pub code: RejectCode,
    pub detail: String,
}

/// One text column: Arrow large-string layout (`offsets.len() == rows + 1`), with what the cleansing
/// needs to know to skip work: whether every value is ASCII (so already NFC), whether any has leading or
/// trailing ASCII whitespace, and whether any is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextColumn {
    pub offsets: Vec<i64>,
    pub data: Vec<u8>,
    pub ascii: bool,
    pub padded: bool,
    pub empty: bool,
}

impl Default for TextColumn {
    fn default() -> Self {
        TextColumn { offsets: vec![0], data: Vec::new(), ascii: true, padded: false, empty: false }
    }
}

impl TextColumn {
    fn new() -> Self {
        TextColumn::default()
    }

    #[inline]
    fn push(&mut self, value: &[u8]) {
        match (value.first(), value.last()) {
            (Some(&first), Some(&last)) => {
                // Any control character or space at an edge: the cleansing's (Unicode) trim decides.
                self.padded |= first <= b' ' || last <= b' ' || first == 0x7f || last == 0x7f;
                self.ascii &= value.is_ascii();
            }
            _ => self.empty = true,
        }
        self.data.extend_from_slice(value);
        self.offsets.push(self.data.len() as i64);
    }
    pub fn value(&self, row: usize) -> &[u8] {
        &self.data[self.offsets[row] as usize..self.offsets[row + 1] as usize]
    }
}

#[derive(Debug, Clone, Default)]
pub struct ParsedCsv {
    pub header: Vec<String>,
    /// The accepted rows, in file order, in one or more chunks.
    pub chunks: Vec<Chunk>,
    pub rejects: Vec<Reject>,
    pub records: u64,
    pub blank_lines: u64,
    pub had_bom: bool,
}

impl ParsedCsv {
    pub fn rows(&self) -> usize {
        self.chunks.iter().map(Chunk::rows).sum()
    }
    pub fn lines(&self) -> Vec<i64> {
        self.chunks.iter().flat_map(|c| c.line.iter().copied()).collect()
    }
}

enum Outcome {
    /// A record: its field end positions in `scratch`, the position after it, the lines it spans.
    Record { next: usize, newlines: u64 },
    Bad { next: usize, newlines: u64, raw_end: usize, detail: String },
}

/// Reads one record starting at `start` into `scratch`/`ends`, without recursion and without lookahead
/// past the record. On a quoting error the record is cut at the end of the physical line where the error
/// is, and reading resumes after it.
fn read_record(input: &[u8], start: usize, opts: CsvOptions, scratch: &mut Vec<u8>, ends: &mut Vec<usize>) -> Outcome {
    scratch.clear();
    ends.clear();
    let (d, q) = (opts.delimiter, opts.quote);
    let n = input.len();
    let mut i = start;
    let mut newlines = 0u64;
    let line_end = |from: usize| -> usize { input[from..].iter().position(|&b| b == b'\n').map_or(n, |p| from + p) };
    loop {
        // Start of a field.
        if i < n && input[i] == q {
            let open = i;
            i += 1;
            loop {
                match input[i..].iter().position(|&b| b == q || b == b'\n') {
                    None => {
                        // Unterminated: cut at the end of the line where the quote opened.
                        let end = line_end(open);
                        let lines_before = input[start..open].iter().filter(|&&b| b == b'\n').count() as u64;
                        return Outcome::Bad {
                            next: (end + 1).min(n),
                            newlines: lines_before + u64::from(end < n),
                            raw_end: end,
                            detail: format!("field {} opens a quote that is never closed", ends.len() + 1),
                        };
                    }
                    Some(p) => {
                        let at = i + p;
                        scratch.extend_from_slice(&input[i..at]);
                        if input[at] == b'\n' {
                            newlines += 1;
                            scratch.push(b'\n');
                            i = at + 1;
                            continue;
                        }
                        // A quote: doubled means a literal quote, otherwise the field closes.
                        if at + 1 < n && input[at + 1] == q {
                            scratch.push(q);
                            i = at + 2;
                            continue;
                        }
                        i = at + 1;
                        break;
                    }
                }
            }
            ends.push(scratch.len());
            // After a closing quote: a delimiter, the end of the record, or an error.
            if i >= n {
                return Outcome::Record { next: n, newlines };
            }
            match input[i] {
                b if b == d => {
                    i += 1;
                    continue;
                }
                b'\n' => return Outcome::Record { next: i + 1, newlines: newlines + 1 },
                b'\r' if i + 1 < n && input[i + 1] == b'\n' => {
                    return Outcome::Record { next: i + 2, newlines: newlines + 1 }
                }
                b'\r' if i + 1 == n => return Outcome::Record { next: n, newlines },
                other => {
                    let end = line_end(i);
                    return Outcome::Bad {
                        next: (end + 1).min(n),
                        newlines: newlines + u64::from(end < n),
                        raw_end: end,
                        detail: format!(
                            "field {} has {:?} after its closing quote (a quote inside a quoted field is written twice)",
                            ends.len(),
                            char::from(other)
                        ),
                    };
                }
            }
        }
        // Unquoted field: up to a delimiter or the end of the line.
        let rest = &input[i..];
        let stop = rest.iter().position(|&b| b == d || b == b'\n' || b == q).map_or(n, |p| i + p);
        if stop < n && input[stop] == q {
            let end = line_end(stop);
            return Outcome::Bad {
                next: (end + 1).min(n),
                newlines: newlines + u64::from(end < n),
                raw_end: end,
                detail: format!("field {} has a quote inside an unquoted value", ends.len() + 1),
            };
        }
        let mut value_end = stop;
        let at_line_end = stop >= n || input[stop] == b'\n';
        if at_line_end && value_end > i && input[value_end - 1] == b'\r' {
            value_end -= 1;
        }
        scratch.extend_from_slice(&input[i..value_end]);
        ends.push(scratch.len());
        if stop >= n {
            return Outcome::Record { next: n, newlines };
        }
        if input[stop] == b'\n' {
            return Outcome::Record { next: stop + 1, newlines: newlines + 1 };
        }
        i = stop + 1; // a delimiter
    }
}

fn trim_line_end(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

/// One contiguous part of the body, read on its own thread.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub columns: Vec<TextColumn>,
    /// Per accepted row: its starting physical line and its record ordinal.
    pub line: Vec<i64>,
    pub record: Vec<i64>,
    pub rejects: Vec<Reject>,
    records: u64,
    lines: u64,
    blank_lines: u64,
    /// Where reading stopped: the start of the first record at or after the chunk's limit.
    end: usize,
}

impl Chunk {
    pub fn rows(&self) -> usize {
        self.line.len()
    }
}

/// Reads records from `start` while they start before `limit`; lines and records count from zero.
fn read_chunk(input: &[u8], start: usize, limit: usize, width: usize, opts: CsvOptions, header: &[String]) -> Chunk {
    let mut out = Chunk { columns: (0..width).map(|_| TextColumn::new()).collect(), ..Chunk::default() };
    let (mut scratch, mut ends) = (Vec::new(), Vec::new());
    let mut pos = start;
    let n = input.len();
    let mut line = 0u64;
    while pos < limit {
        if input[pos] == b'\n' || input[pos..].starts_with(b"\r\n") {
            pos += if input[pos] == b'\n' { 1 } else { 2 };
            line += 1;
            out.blank_lines += 1;
            continue;
        }
        if input[pos..] == *b"\r" {
            pos = n;
            break;
        }
        out.records += 1;
        let record = out.records;
        match read_record(input, pos, opts, &mut scratch, &mut ends) {
            Outcome::Bad { next, newlines, raw_end, detail } => {
                out.rejects.push(Reject {
                    line,
                    record,
                    raw: trim_line_end(&input[pos..raw_end]).to_vec(),
                    code: RejectCode::BadQuoting,
                    detail,
                });
                pos = next;
                line += newlines;
            }
            Outcome::Record { next, newlines } => {
                let raw = || trim_line_end(&input[pos..next]).to_vec();
                if ends.len() != width {
                    out.rejects.push(Reject {
                        line,
                        record,
                        raw: raw(),
                        code: RejectCode::RaggedRow,
                        detail: format!("expected {width} fields, found {}", ends.len()),
                    });
                } else if let Err(e) = std::str::from_utf8(&scratch) {
                    let at = e.valid_up_to();
                    let field = ends.iter().position(|&end| end > at).unwrap_or(width - 1);
                    out.rejects.push(Reject {
                        line,
                        record,
                        raw: raw(),
                        code: RejectCode::InvalidUtf8,
                        detail: format!("field {} ({}) is not valid UTF-8", field + 1, header[field]),
                    });
                } else {
                    let mut begin = 0;
                    for (column, &end) in out.columns.iter_mut().zip(ends.iter()) {
                        column.push(&scratch[begin..end]);
                        begin = end;
                    }
                    out.line.push(line as i64);
                    out.record.push(record as i64);
                }
                pos = next;
                line += newlines;
            }
        }
    }
    out.end = pos.max(limit.min(n));
    out.lines = line;
    out
}

/// Reads a whole CSV export. A file without a header line, or a header that cannot be read (bad quoting,
/// invalid UTF-8, an empty or repeated column name), is an error: no row of it could be named.
///
/// The body is cut at line ends into `parts` pieces read in parallel, each assuming it starts a record.
/// A piece whose predecessor did not end exactly at its start (a quoted field ran across the cut) is read
/// again from where the predecessor ended, so the result is always the sequential one.
pub fn parse_csv(input: &[u8], opts: CsvOptions) -> Result<ParsedCsv> {
    parse_csv_parts(input, opts, rayon::current_num_threads().max(1))
}

pub fn parse_csv_parts(input: &[u8], opts: CsvOptions, parts: usize) -> Result<ParsedCsv> {
    parse_csv_split(input, opts, parts, 1 << 20)
}

#[cfg(test)]
fn parse_body_parts(input: &[u8], opts: CsvOptions, parts: usize) -> ParsedCsv {
    parse_csv_split(input, opts, parts, 0).unwrap()
}

fn parse_csv_split(input: &[u8], opts: CsvOptions, parts: usize, min_split: usize) -> Result<ParsedCsv> {
    if opts.delimiter == opts.quote || opts.delimiter == b'\n' || opts.delimiter == b'\r' {
        return Err(invalid("the delimiter must differ from the quote and from line ends"));
    }
    let mut out = ParsedCsv::default();
    let mut pos = 0usize;
    if input.starts_with(b"\xEF\xBB\xBF") {
        out.had_bom = true;
        pos = 3;
    }
    let mut line = 1u64;
    let mut scratch = Vec::new();
    let mut ends = Vec::new();
    // Header: the first non-blank line.
    loop {
        if pos >= input.len() {
            return Err(invalid("the file is empty: it has no header line"));
        }
        if input[pos] == b'\n' || input[pos..].starts_with(b"\r\n") {
            pos += if input[pos] == b'\n' { 1 } else { 2 };
            line += 1;
            continue;
        }
        break;
    }
    match read_record(input, pos, opts, &mut scratch, &mut ends) {
        Outcome::Bad { detail, .. } => return Err(invalid(format!("the header (line {line}) cannot be read: {detail}"))),
        Outcome::Record { next, newlines } => {
            let mut begin = 0;
            for (k, &end) in ends.iter().enumerate() {
                let name = std::str::from_utf8(&scratch[begin..end])
                    .map_err(|_| invalid(format!("header column {} is not valid UTF-8", k + 1)))?
                    .trim()
                    .to_string();
                if name.is_empty() {
                    return Err(invalid(format!("header column {} has no name", k + 1)));
                }
                if out.header.contains(&name) {
                    return Err(invalid(format!("header names column {name:?} twice")));
                }
                out.header.push(name);
                begin = end;
            }
            pos = next;
            line += newlines;
        }
    }
    let width = out.header.len();
    let n = input.len();
    // Cut points: the byte after a line end near each equal share of the body.
    let parts = if n - pos < min_split { 1 } else { parts.max(1) };
    let mut cuts = vec![pos];
    for k in 1..parts {
        let target = pos + (n - pos) * k / parts;
        let cut = input[target..].iter().position(|&b| b == b'\n').map_or(n, |p| target + p + 1);
        if cut > *cuts.last().unwrap_or(&pos) && cut < n {
            cuts.push(cut);
        }
    }
    cuts.push(n);
    let header = out.header.clone();
    let mut chunks: Vec<Chunk> = {
        use rayon::prelude::*;
        cuts.par_windows(2).map(|w| read_chunk(input, w[0], w[1], width, opts, &header)).collect()
    };
    for k in 1..chunks.len() {
        let previous_end = chunks[k - 1].end;
        if previous_end != cuts[k] {
            chunks[k] = read_chunk(input, previous_end, cuts[k + 1].max(previous_end), width, opts, &header);
        }
    }
    let (mut lines, mut records) = (line as i64, 0i64);
    for chunk in &mut chunks {
        chunk.line.iter_mut().for_each(|l| *l += lines);
        chunk.record.iter_mut().for_each(|r| *r += records);
        for r in &mut chunk.rejects {
            r.line += lines as u64;
            r.record += records as u64;
        }
        out.rejects.append(&mut chunk.rejects);
        out.blank_lines += chunk.blank_lines;
        out.records += chunk.records;
        lines += chunk.lines as i64;
        records += chunk.records as i64;
    }
    out.chunks = chunks;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> ParsedCsv {
        parse_csv(text, CsvOptions::default()).unwrap()
    }

    fn rows(p: &ParsedCsv) -> Vec<Vec<String>> {
        p.chunks
            .iter()
            .flat_map(|ch| {
                (0..ch.rows()).map(|r| ch.columns.iter().map(|c| String::from_utf8(c.value(r).to_vec()).unwrap()).collect())
            })
            .collect()
    }

    #[test]
    fn reads_quotes_crlf_and_bom() {
        let p = parse(b"\xEF\xBB\xBFid,name\r\n1,\"a, \"\"b\"\"\"\r\n2,\"two\nlines\"\r\n3,\r\n");
        assert!(p.had_bom);
        assert_eq!(p.header, vec!["id", "name"]);
        assert_eq!(rows(&p), vec![vec!["1", "a, \"b\""], vec!["2", "two\nlines"], vec!["3", ""]]);
        assert_eq!(p.lines(), vec![2, 3, 5]);
        assert!(p.rejects.is_empty());
    }

    #[test]
    fn every_record_is_a_row_or_a_reject() {
        let text = b"id,amt\n1,2\n2,3,4\n3,\"x\"y\n4,a\"b\n5,\xff\n\n6,\"never closed\n7,8\n8,9";
        let p = parse(text);
        assert_eq!(rows(&p), vec![vec!["1", "2"], vec!["7", "8"], vec!["8", "9"]]);
        assert_eq!(p.lines(), vec![2, 9, 10]);
        let got: Vec<(u64, u64, &str, &[u8])> =
            p.rejects.iter().map(|r| (r.line, r.record, r.code.as_str(), r.raw.as_slice())).collect();
        assert_eq!(
            got,
            vec![
                (3, 2, "ragged_row", b"2,3,4".as_slice()),
                (4, 3, "bad_quoting", b"3,\"x\"y".as_slice()),
                (5, 4, "bad_quoting", b"4,a\"b".as_slice()),
                (6, 5, "invalid_utf8", b"5,\xff".as_slice()),
                (8, 6, "bad_quoting", b"6,\"never closed".as_slice()),
            ]
        );
        assert_eq!(p.records, 8);
        assert_eq!(p.records as usize, p.rows() + p.rejects.len());
        assert_eq!(p.blank_lines, 1);
    }

    #[test]
    fn column_flags() {
        let p = parse(b"a,b,c,d\nx, y,\xc3\xa9,\n");
        let c = &p.chunks[0].columns;
        assert_eq!((c[0].ascii, c[0].padded, c[0].empty), (true, false, false));
        assert_eq!((c[1].ascii, c[1].padded, c[1].empty), (true, true, false));
        assert_eq!((c[2].ascii, c[2].padded, c[2].empty), (false, false, false));
        assert_eq!((c[3].ascii, c[3].padded, c[3].empty), (true, false, true));
    }

    #[test]
    fn header_problems_are_errors() {
        assert!(parse_csv(b"", CsvOptions::default()).is_err());
        assert!(parse_csv(b"\n\n", CsvOptions::default()).is_err());
        assert!(parse_csv(b"a,a\n1,2\n", CsvOptions::default()).is_err());
        assert!(parse_csv(b"a,\n1,2\n", CsvOptions::default()).is_err());
        let p = parse(b"a,b\r\n");
        assert_eq!((p.records, p.rows()), (0, 0));
    }

    #[test]
    fn other_delimiter_and_final_line_without_newline() {
        let p = parse_csv(b"a;b\n1;\"x;y\"", CsvOptions { delimiter: b';', quote: b'"' }).unwrap();
        assert_eq!(rows(&p), vec![vec!["1", "x;y"]]);
    }

    /// A slow reference: split on lines for files without quotes, compare field by field.
    #[test]
    fn matches_naive_split_without_quotes() {
        let mut rng = crate::rng::SplitMix64::new(7);
        for _ in 0..200 {
            let width = 1 + (rng.next_u64() % 4) as usize;
            let n = (rng.next_u64() % 20) as usize;
            let mut text = (0..width).map(|c| format!("c{c}")).collect::<Vec<_>>().join(",");
            let mut expect = Vec::new();
            for _ in 0..n {
                let row: Vec<String> = (0..width).map(|_| format!("v{}", rng.next_u64() % 1000)).collect();
                text.push_str(if rng.next_u64().is_multiple_of(2) { "\n" } else { "\r\n" });
                text.push_str(&row.join(","));
                expect.push(row);
            }
            let p = parse(text.as_bytes());
            assert_eq!(rows(&p), expect);
        }
    }

    /// Parallel pieces give the sequential result, also when a quoted field or a bad record spans a cut.
    #[test]
    fn parts_equal_sequential() {
        let mut rng = crate::rng::SplitMix64::new(11);
        let atoms: [&[u8]; 9] = [b"a", b"12", b",", b"\n", b"\r\n", b"\"", b"\"\"", b"\"x\ny\"", b"\xff"];
        for _ in 0..300 {
            let mut text = b"c1,c2\n".to_vec();
            for _ in 0..(rng.next_u64() % 60) {
                text.extend_from_slice(atoms[(rng.next_u64() % atoms.len() as u64) as usize]);
            }
            let one = parse_csv_parts(&text, CsvOptions::default(), 1).unwrap();
            for parts in [2, 3, 7] {
                let many = parse_csv_forced(&text, parts);
                assert_eq!(rows(&many), rows(&one));
                assert_eq!(many.lines(), one.lines());
                assert_eq!(many.rejects, one.rejects);
                assert_eq!((many.records, many.blank_lines), (one.records, one.blank_lines));
            }
        }
    }

    fn parse_csv_forced(text: &[u8], parts: usize) -> ParsedCsv {
        // The public entry reads inputs under 1 MiB in one piece; this one cuts even tiny ones.
        parse_body_parts(text, CsvOptions::default(), parts)
    }
}
