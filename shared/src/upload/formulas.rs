//! CSV text: what may be stored as a spreadsheet, and the cells a spreadsheet would run.
//!
//! A cell whose first character is `=`, `+`, `-`, `@`, a tab or a carriage return is a formula
//! to Excel, LibreOffice and Google Sheets (`=HYPERLINK(…)`, `@SUM(…)`, DDE's `=cmd|…`), run
//! when the file is opened. Such a cell gets a leading `'` (OWASP's CSV-injection advice:
//! spreadsheets show it as the text it was), unless the whole cell is a plain number such as
//! `-5000` or `+256700000000`, which a spreadsheet reads as that number and nothing more.
//! Records are read and written with the `csv` crate, so quoting stays well-formed; a file with
//! nothing to neutralise is stored byte for byte.

/// The first characters that make a cell a formula.
const FORMULA_STARTS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// UTF-8 text without control characters (other than tab and line ends) that is not markup:
/// HTML renamed `.csv` must not be served back as a spreadsheet.
pub fn is_csv_text(b: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(b) else {
        return false;
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    !text.trim().is_empty()
        && !text.trim_start().starts_with('<')
        && !has_markup(text)
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'))
}

/// Whether a browser would read an HTML tag in `text`: `<` followed by a letter, `!`, `/` or
/// `?`, closed by a `>` somewhere after it (an HTML parser drops a tag still open at the end of
/// the input, so `a<b` alone is text, while `<img src=x onerror=…>` is a tag).
fn has_markup(text: &str) -> bool {
    let b = text.as_bytes();
    let Some(last_close) = b.iter().rposition(|&c| c == b'>') else {
        return false;
    };
    b[..last_close]
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'!' | b'/' | b'?')))
}

/// Whether a spreadsheet would run `cell` as a formula.
fn is_formula(cell: &str) -> bool {
    cell.starts_with(FORMULA_STARTS) && !is_plain_number(cell)
}

/// An optional sign, digits, and at most one decimal point: `-5000`, `+256700000000`, `-12.50`.
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole.bytes().all(|c| c.is_ascii_digit())
        && fraction.bytes().all(|c| c.is_ascii_digit())
}

/// The text to store: `None` when no cell is a formula (store the file as it came), else the
/// file written again with each formula cell prefixed by `'`. `Err` when it cannot be read as
/// CSV.
pub fn neutralise(text: &str) -> Result<Option<String>, csv::Error> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let records: Vec<csv::StringRecord> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes())
        .records()
        .collect::<Result<_, _>>()?;
    if !records.iter().flatten().any(is_formula) {
        return Ok(None);
    }
    let terminator = if body.contains("\r\n") {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .terminator(terminator)
        .from_writer(bom.as_bytes().to_vec());
    for record in &records {
        writer.write_record(record.iter().map(|cell| {
            if is_formula(cell) {
                format!("'{cell}")
            } else {
                cell.to_string()
            }
        }))?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(Some(
        String::from_utf8(bytes).expect("written from UTF-8 cells"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(text: &str) -> String {
        neutralise(text)
            .unwrap()
            .unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn formula_cells_get_a_quote_and_numbers_stay() {
        assert_eq!(
            stored("a,b\n=1+2,-5000\n+256700000000,@SUM(A1)\n-1+2,+\n"),
            "a,b\n'=1+2,-5000\n+256700000000,'@SUM(A1)\n'-1+2,'+\n"
        );
        assert_eq!(stored("x\r\n\"\tcmd\"\r\n"), "x\r\n'\tcmd\r\n");
        assert_eq!(stored("x\n\"\rcmd\"\n"), "x\n\"'\rcmd\"\n");
        assert_eq!(
            stored("x,y\n\"=A1,\"\"q\"\"\",.5\n"),
            "x,y\n\"'=A1,\"\"q\"\"\",.5\n"
        );
        assert_eq!(stored("\u{feff}a\n=1\n"), "\u{feff}a\n'=1\n");
        for number in ["-5000", "+256700000000", "-12.50", "3.", ".5", "-0"] {
            assert!(is_plain_number(number), "{number}");
        }
        for not in ["-", "+", ".", "-1e5", "--1", "1.2.3", "-1 ", "-١"] {
            assert!(!is_plain_number(not), "{not}");
        }
    }

    #[test]
    fn a_file_without_formulas_is_left_as_it_came() {
        for text in [
            "a,b\r\n1,-2\r\n",
            "a;b\n\"x, y\",z",
            "name\nJosé\n",
            " =not a formula,a-b\n",
        ] {
            assert_eq!(neutralise(text).unwrap(), None, "{text:?}");
        }
    }

    #[test]
    fn markup_is_told_from_text() {
        for markup in [
            "a,<img src=x onerror=alert(1)>",
            "a,<svg/onload=alert(1)>",
            "a,</title>",
            "a,<!-- x -->",
            "a,<?xml version='1.0'?>",
            "a,<IMG\nSRC=x>",
            "a,<b\nc,d>",
        ] {
            assert!(!is_csv_text(markup.as_bytes()), "{markup:?}");
        }
        for text in [
            "a,b\nx<y,1 < 2\n",
            "a,b\n1<=2,3 -> 4\n",
            "a,<3\n",
            "a,b>c<d\n",
        ] {
            assert!(is_csv_text(text.as_bytes()), "{text:?}");
        }
    }
}
