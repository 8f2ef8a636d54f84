//! PDFs that can act when opened are refused: JavaScript (`/JavaScript`, `/JS`), actions run on
//! opening or on events (`/OpenAction` unless it is only a page to open at, `/AA`), `/Launch`,
//! embedded files (`/EmbeddedFiles`, `/EmbeddedFile`), XFA forms and rich media (both can carry
//! scripts), and encryption (`/Encrypt`: nothing inside could be checked).
//!
//! Hand-written, not a PDF library: `lopdf`, the maintained Rust parser, brings AES, MD5, a
//! second SHA-2 and `rand`, `encoding_rs`, `stringprep` and a Brotli decoder into the upload
//! function, which has about 0.5 MB left under the 5 MB artifact budget; it needs Rust 1.88
//! (this workspace says 1.85); and a panic in a parser aborts the Lambda (`panic = "abort"`).
//! What is needed here is smaller than a parser: find every name, wherever it is written.
//!
//! So the whole file is read as PDF tokens, in order, live and dead objects alike: strings,
//! hex strings and comments are skipped (a name inside a string is text), and each name is
//! compared after its `#xx` escapes are decoded (`/J#61vaScript` is `/JavaScript`). Stream
//! data is skipped by its `/Length` (direct, or an indirect `n g R` resolved in the file), and
//! a stream whose length does not land on `endstream` makes the file refused: a reader would
//! disagree with this check about where the stream ends. Object streams (`/Type /ObjStm`, or a
//! `/First`), where PDF 1.5 packs dictionaries, are inflated (`/FlateDecode`, with flate2) and
//! read the same way; one in any other encoding, or that does not inflate, is refused. Other
//! streams (page contents, images, fonts) hold no dictionaries that act, and are not read.

use std::collections::HashMap;
use std::io::Read;

use super::Refusal;

/// Names that make a PDF refused wherever they appear, with what they mean to the sender.
const FORBIDDEN: &[(&[u8], &str)] = &[
    (b"JavaScript", "JavaScript"),
    (b"JS", "JavaScript"),
    (b"AA", "actions run on events (/AA)"),
    (b"Launch", "a launch action"),
    (b"EmbeddedFiles", "embedded files"),
    (b"EmbeddedFile", "an embedded file"),
    (b"XFA", "an XFA form, which can carry scripts"),
    (b"RichMedia", "rich media, which can carry scripts"),
];

/// The most that object streams may inflate to, in all (a deflate bomb is refused).
const MAX_INFLATED: u64 = 64 * 1024 * 1024;

/// Whether the file ends with `%%EOF` (allowing trailing white space): the cheap check made
/// while the type is decided.
pub fn has_end_marker(b: &[u8]) -> bool {
    let tail = &b[b.len().saturating_sub(1024)..];
    tail.windows(5).any(|w| w == b"%%EOF")
}

/// Refuses a PDF that can act, is encrypted, or cannot be read far enough to tell.
pub fn check(b: &[u8]) -> Result<(), Refusal> {
    if !has_end_marker(b) {
        return Err(Refusal::Damaged("PDF without its end marker"));
    }
    let mut budget = MAX_INFLATED;
    let mut lengths = None;
    Scan {
        file: b,
        budget: &mut budget,
        lengths: &mut lengths,
    }
    .run(b, true)
}

/// One token of PDF syntax; only what this check needs is told apart.
#[derive(Debug, PartialEq)]
enum Tok<'a> {
    /// A name, `#xx` escapes decoded.
    Name(Vec<u8>),
    /// A number, keyword or anything else made of regular characters.
    Word(&'a [u8]),
    DictOpen,
    DictClose,
    ArrOpen,
    Other,
}

fn is_white(c: u8) -> bool {
    matches!(c, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Reads tokens from `at` on.
struct Lexer<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    fn skip_white_and_comments(&mut self) {
        while let Some(&c) = self.b.get(self.at) {
            if is_white(c) {
                self.at += 1;
            } else if c == b'%' {
                while self
                    .b
                    .get(self.at)
                    .is_some_and(|&c| c != b'\n' && c != b'\r')
                {
                    self.at += 1;
                }
            } else {
                break;
            }
        }
    }

    fn regular_run(&mut self) -> &'a [u8] {
        let start = self.at;
        while self
            .b
            .get(self.at)
            .is_some_and(|&c| !is_white(c) && !is_delimiter(c))
        {
            self.at += 1;
        }
        &self.b[start..self.at]
    }

    /// A name's bytes with `#xx` decoded (a `#` without two hex digits stays as it is).
    fn name(&mut self) -> Vec<u8> {
        let raw = self.regular_run();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let hi = raw.get(i + 1).and_then(|&c| hex(c));
            let lo = raw.get(i + 2).and_then(|&c| hex(c));
            match (raw[i] == b'#', hi, lo) {
                (true, Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(raw[i]);
                    i += 1;
                }
            }
        }
        out
    }

    /// Skips a literal string: balanced parentheses, backslash escapes.
    fn literal_string(&mut self) {
        let mut depth = 0usize;
        while let Some(&c) = self.b.get(self.at) {
            self.at += 1;
            match c {
                b'\\' => self.at += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        self.skip_white_and_comments();
        let c = *self.b.get(self.at)?;
        let next = self.b.get(self.at + 1).copied();
        Some(match c {
            b'/' => {
                self.at += 1;
                Tok::Name(self.name())
            }
            b'(' => {
                self.literal_string();
                Tok::Other
            }
            b'<' if next == Some(b'<') => {
                self.at += 2;
                Tok::DictOpen
            }
            b'<' => {
                // A hex string: up to its `>`.
                while self.b.get(self.at).is_some_and(|&c| c != b'>') {
                    self.at += 1;
                }
                self.at += 1;
                Tok::Other
            }
            b'>' if next == Some(b'>') => {
                self.at += 2;
                Tok::DictClose
            }
            b'[' => {
                self.at += 1;
                Tok::ArrOpen
            }
            _ if is_delimiter(c) => {
                self.at += 1;
                Tok::Other
            }
            _ => Tok::Word(self.regular_run()),
        })
    }

    /// The next token, without moving on.
    fn peek(&mut self) -> Option<Tok<'a>> {
        let at = self.at;
        let tok = self.next();
        self.at = at;
        tok
    }

    /// The next `n` tokens, without moving on.
    fn peek_n(&mut self, n: usize) -> Vec<Tok<'a>> {
        let at = self.at;
        let toks = (0..n).map_while(|_| self.next()).collect();
        self.at = at;
        toks
    }
}

fn number(word: &[u8]) -> Option<u64> {
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// A stream's length as its dictionary gives it.
#[derive(Clone, Copy)]
enum Length {
    Direct(u64),
    Indirect(u64, u64),
}

/// What this check needs of the dictionary of the object being read.
#[derive(Default)]
struct Dict {
    length: Option<Length>,
    filters: Vec<Vec<u8>>,
    decode_parms: bool,
    object_stream: bool,
}

struct Scan<'f, 'b> {
    file: &'f [u8],
    budget: &'b mut u64,
    /// Every `n g obj <integer> endobj` of the file, found once when first needed.
    lengths: &'b mut Option<HashMap<(u64, u64), u64>>,
}

impl Scan<'_, '_> {
    /// Reads `b` (the file when `top`, else an object stream's inflated data).
    fn run(&mut self, b: &[u8], top: bool) -> Result<(), Refusal> {
        let mut lx = Lexer { b, at: 0 };
        let mut depth = 0usize;
        let mut dict = Dict::default();
        while let Some(tok) = lx.next() {
            match tok {
                Tok::DictOpen => depth += 1,
                Tok::DictClose => depth = depth.saturating_sub(1),
                Tok::Name(name) => {
                    check_name(&name, &mut lx)?;
                    if depth == 1 {
                        note_key(&name, &mut lx, &mut dict);
                    }
                }
                Tok::Word(b"obj") | Tok::Word(b"endobj") => {
                    depth = 0;
                    dict = Dict::default();
                }
                Tok::Word(b"stream") if top => {
                    lx.at = self.stream(b, lx.at, &dict)?;
                    dict = Dict::default();
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads the stream whose keyword ends at `at`; returns where its `endstream` ends.
    fn stream(&mut self, b: &[u8], at: usize, dict: &Dict) -> Result<usize, Refusal> {
        let start = match b.get(at..at + 2) {
            Some(b"\r\n") => at + 2,
            Some([b'\n', _]) | Some([b'\r', _]) => at + 1,
            _ => return Err(Refusal::Damaged("a PDF stream without its line end")),
        };
        let length = match dict.length {
            Some(Length::Direct(n)) => n,
            Some(Length::Indirect(n, g)) => self.indirect_length(n, g).ok_or(Refusal::Damaged(
                "a PDF stream whose length cannot be found",
            ))?,
            None => return Err(Refusal::Damaged("a PDF stream without a length")),
        };
        let end = usize::try_from(length)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= b.len())
            .ok_or(Refusal::Damaged("a PDF stream longer than the file"))?;
        let mut after = Lexer { b, at: end };
        after.skip_white_and_comments();
        if after.next() != Some(Tok::Word(b"endstream")) {
            return Err(Refusal::Damaged("a PDF stream whose length is wrong"));
        }
        if dict.object_stream {
            let data = self.inflate(&b[start..end], dict)?;
            self.run(&data, false)?;
        }
        Ok(after.at)
    }

    /// An object stream's data, decoded.
    fn inflate(&mut self, raw: &[u8], dict: &Dict) -> Result<Vec<u8>, Refusal> {
        let cannot = Refusal::Damaged("a PDF object stream in an encoding that cannot be checked");
        let flate = match dict.filters.as_slice() {
            [] => false,
            [f] if f == b"FlateDecode" || f == b"Fl" => true,
            _ => return Err(cannot),
        };
        if dict.decode_parms {
            return Err(cannot);
        }
        if !flate {
            return Ok(raw.to_vec());
        }
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(raw)
            .take(*self.budget + 1)
            .read_to_end(&mut out)
            .map_err(|_| Refusal::Damaged("a PDF object stream that does not inflate"))?;
        let used = out.len() as u64;
        if used > *self.budget {
            return Err(Refusal::Damaged("a PDF that inflates to too much"));
        }
        *self.budget -= used;
        Ok(out)
    }

    fn indirect_length(&mut self, n: u64, g: u64) -> Option<u64> {
        let file = self.file;
        self.lengths
            .get_or_insert_with(|| integer_objects(file))
            .get(&(n, g))
            .copied()
    }
}

/// Refuses a forbidden name; `/OpenAction` passes only when it is a destination (an array: a
/// page to open at), never an action.
fn check_name(name: &[u8], lx: &mut Lexer) -> Result<(), Refusal> {
    if let Some((_, what)) = FORBIDDEN.iter().find(|(n, _)| *n == name) {
        return Err(Refusal::Active(what));
    }
    match name {
        b"Encrypt" => Err(Refusal::Encrypted),
        b"OpenAction" if lx.peek() != Some(Tok::ArrOpen) => {
            Err(Refusal::Active("an action run on opening (/OpenAction)"))
        }
        _ => Ok(()),
    }
}

/// Records the keys of the object's own dictionary that say how to read its stream.
fn note_key(name: &[u8], lx: &mut Lexer, dict: &mut Dict) {
    match name {
        b"Length" => {
            dict.length = match lx.peek_n(3).as_slice() {
                [Tok::Word(n), Tok::Word(g), Tok::Word(b"R")] => number(n)
                    .zip(number(g))
                    .map(|(n, g)| Length::Indirect(n, g)),
                [Tok::Word(n), ..] => number(n).map(Length::Direct),
                _ => None,
            }
        }
        b"Filter" => {
            let at = lx.at;
            dict.filters = match lx.next() {
                Some(Tok::Name(f)) => vec![f],
                Some(Tok::ArrOpen) => std::iter::from_fn(|| match lx.next() {
                    Some(Tok::Name(f)) => Some(f),
                    _ => None,
                })
                .collect(),
                // An indirect filter cannot be checked: an unknown one stands in for it.
                _ => vec![b"?".to_vec()],
            };
            lx.at = at;
        }
        b"DecodeParms" => dict.decode_parms = true,
        b"First" => dict.object_stream = true,
        b"Type" if lx.peek() == Some(Tok::Name(b"ObjStm".to_vec())) => dict.object_stream = true,
        _ => {}
    }
}

/// Every `n g obj <integer> endobj` in the file: where indirect stream lengths live. Found by
/// bytes, not tokens, since it must see past stream data that has not been measured yet; an
/// object defined twice with different values is left out (its length cannot be trusted).
fn integer_objects(b: &[u8]) -> HashMap<(u64, u64), u64> {
    let mut found: HashMap<(u64, u64), Option<u64>> = HashMap::new();
    for at in 0..b.len().saturating_sub(3) {
        if &b[at..at + 3] != b"obj" || b.get(at + 3).is_some_and(|&c| !is_white(c)) {
            continue;
        }
        let Some((n, g)) = object_number_before(b, at) else {
            continue;
        };
        let mut lx = Lexer { b, at: at + 3 };
        if let [Tok::Word(v), Tok::Word(b"endobj")] = lx.peek_n(2).as_slice() {
            if let Some(v) = number(v) {
                let entry = found.entry((n, g)).or_insert(Some(v));
                if *entry != Some(v) {
                    *entry = None;
                }
            }
        }
    }
    found
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

/// The `n g` written before the `obj` keyword at `at`.
fn object_number_before(b: &[u8], at: usize) -> Option<(u64, u64)> {
    let mut i = at;
    let mut numbers = [0u64; 2];
    for slot in numbers.iter_mut().rev() {
        let end = i;
        while i > 0 && is_white(b[i - 1]) {
            i -= 1;
        }
        if i == end {
            return None;
        }
        let digits_end = i;
        while i > 0 && b[i - 1].is_ascii_digit() {
            i -= 1;
        }
        *slot = number(&b[i..digits_end])?;
    }
    (i == 0 || is_white(b[i - 1]) || is_delimiter(b[i - 1])).then_some((numbers[0], numbers[1]))
}

#[cfg(test)]
mod tests {
    use super::super::samples::{deflate, object_stream, pdf, pdf_of, stream};
    use super::*;

    fn with_catalog(extra: &str, more: &[Vec<u8>]) -> Vec<u8> {
        let mut objects = vec![format!("<< /Type /Catalog {extra} >>").into_bytes()];
        objects.extend(more.iter().cloned());
        pdf_of(&objects, "")
    }

    #[test]
    fn plain_pdfs_pass() {
        assert_eq!(check(&pdf()), Ok(()));
        let plain = with_catalog(
            "/OpenAction [2 0 R /Fit] /Title (a /JavaScript word \\) in (nested) text) <2F4A53>",
            &[
                stream("/Filter /FlateDecode", &deflate(b"/JS 1 Tf (x) Tj")),
                object_stream(&[(9, "<< /Producer (/AA) >>")]),
                stream(
                    "/Subtype /Image /Filter /DCTDecode",
                    b"\xff\xd8 /JS endstream (\xff\xd9",
                ),
            ],
        );
        assert_eq!(check(&plain), Ok(()));
    }

    #[test]
    fn names_that_act_are_refused_however_spelled() {
        for (catalog, what) in [
            (
                "/OpenAction 2 0 R",
                "an action run on opening (/OpenAction)",
            ),
            (
                "/OpenAction << /S /GoTo /D [0 /Fit] >>",
                "an action run on opening (/OpenAction)",
            ),
            (
                "/#4FpenAction 2 0 R",
                "an action run on opening (/OpenAction)",
            ),
            ("/Names << /JavaScript 2 0 R >>", "JavaScript"),
            ("/Names << /J#61vaScript 2 0 R >>", "JavaScript"),
            ("/Names << /J#61v#61Script 2 0 R >>", "JavaScript"),
            ("/X << /S /JavaScript /J#53 (x) >>", "JavaScript"),
            ("/AA << /O 2 0 R >>", "actions run on events (/AA)"),
            ("/X << /S /Launch /F (calc.exe) >>", "a launch action"),
            ("/Names << /EmbeddedFiles 2 0 R >>", "embedded files"),
            ("/X << /Type /EmbeddedFile >>", "an embedded file"),
            (
                "/AcroForm << /XFA 2 0 R >>",
                "an XFA form, which can carry scripts",
            ),
        ] {
            assert_eq!(
                check(&with_catalog(catalog, &[])),
                Err(Refusal::Active(what)),
                "{catalog}"
            );
        }
        let encrypted = pdf_of(
            &[b"<< /Type /Catalog >>".to_vec()],
            "/Encrypt << /Filter /Standard >>",
        );
        assert_eq!(check(&encrypted), Err(Refusal::Encrypted));
    }

    #[test]
    fn object_streams_are_read_inside() {
        let hidden = with_catalog(
            "",
            &[object_stream(&[(
                5,
                "<< /S /J#61vaScript /JS (app.alert(1)) >>",
            )])],
        );
        assert_eq!(check(&hidden), Err(Refusal::Active("JavaScript")));
        let plain_objstm = with_catalog(
            "",
            &[stream(
                "/Type /ObjStm /N 1 /First 4",
                b"5 0 << /OpenAction 6 0 R >>",
            )],
        );
        assert!(matches!(check(&plain_objstm), Err(Refusal::Active(_))));
        for (dict, data) in [
            (
                "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
                b"not zlib".to_vec(),
            ),
            ("/N 1 /First 4 /Filter /LZWDecode", b"\x80\x0b".to_vec()),
            (
                "/Type /ObjStm /Filter [/ASCIIHexDecode /FlateDecode]",
                b"78>".to_vec(),
            ),
            (
                "/Type /ObjStm /Filter /FlateDecode /DecodeParms << /Predictor 12 >>",
                deflate(b"x"),
            ),
            ("/Type /ObjStm /Filter 7 0 R", deflate(b"x")),
        ] {
            assert!(
                matches!(
                    check(&with_catalog("", &[stream(dict, &data)])),
                    Err(Refusal::Damaged(_))
                ),
                "{dict}"
            );
        }
    }

    #[test]
    fn stream_lengths_must_land_on_endstream() {
        // A false `endstream` inside the data cannot end the stream early.
        let data = b"endstream (\n";
        let tricky = [
            &b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n2 0 obj << /Length 3 0 R >>\nstream\n"[..],
            data,
            b"\nendstream endobj 3 0 obj 12 endobj 4 0 obj << /OpenAction << /S /JavaScript >> >> endobj\n)\n%%EOF\n",
        ]
        .concat();
        assert!(matches!(check(&tricky), Err(Refusal::Active(_))));
        let wrong =
            b"%PDF-1.7\n1 0 obj << /Length 5 >>\nstream\n0123456789\nendstream endobj\n%%EOF"
                .to_vec();
        assert_eq!(
            check(&wrong),
            Err(Refusal::Damaged("a PDF stream whose length is wrong"))
        );
        let unknown =
            b"%PDF-1.7\n1 0 obj << /Length 9 0 R >>\nstream\n0123\nendstream endobj\n%%EOF"
                .to_vec();
        assert!(matches!(check(&unknown), Err(Refusal::Damaged(_))));
        let none = b"%PDF-1.7\n1 0 obj << >>\nstream\n0123\nendstream endobj\n%%EOF".to_vec();
        assert!(matches!(check(&none), Err(Refusal::Damaged(_))));
    }

    #[test]
    fn deflate_bombs_are_refused() {
        let bomb = deflate(&vec![b' '; 70 * 1024 * 1024]);
        let pdf = with_catalog(
            "",
            &[stream(
                "/Type /ObjStm /N 0 /First 0 /Filter /FlateDecode",
                &bomb,
            )],
        );
        assert_eq!(
            check(&pdf),
            Err(Refusal::Damaged("a PDF that inflates to too much"))
        );
    }
}
