//! File uploads: the `file` part of a `multipart/form-data` body (parsed by `multer`), the
//! file's real type decided from its bytes — never from its name or declared type — and what is
//! stored of it. The type check is cheap and structural (images are walked whole, chunk lengths,
//! CRCs and end markers, and their declared pixel size bounded); then, on the blocking pool,
//! each type is made safe to store: images are decoded and re-encoded (`images`), PDFs that can
//! act are refused (`pdf`), and CSV formula cells neutralised (`formulas`).

mod formulas;
mod images;
mod pdf;

pub use images::{JPEG_QUALITY, MAX_DECODE_BYTES};

use std::collections::BTreeMap;

use http::{header, StatusCode};
use lambda_http::Request;

use crate::error::{ApiError, ApiResult};

/// The file types this API stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    Webp,
    Pdf,
    Csv,
}

impl Kind {
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Webp => "image/webp",
            Kind::Pdf => "application/pdf",
            Kind::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The kind whose [`Kind::extension`] is `ext`: stored keys end with their kind's.
    pub fn from_extension(ext: &str) -> Option<Kind> {
        [Kind::Png, Kind::Jpeg, Kind::Webp, Kind::Pdf, Kind::Csv]
            .into_iter()
            .find(|k| k.extension() == ext)
    }

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Png => "png",
            Kind::Jpeg => "jpg",
            Kind::Webp => "webp",
            Kind::Pdf => "pdf",
            Kind::Csv => "csv",
        }
    }
}

/// The largest image side and pixel count accepted (a bomb guard: 64 Mpx decodes to 256 MB).
pub const MAX_SIDE: u32 = 10_000;
pub const MAX_PIXELS: u64 = 40_000_000;

/// Why a file was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    UnknownType,
    Damaged(&'static str),
    TooManyPixels,
    /// A PDF that can act when opened: what it carries.
    Active(&'static str),
    Encrypted,
}

/// What is stored of an accepted file, and its type.
#[derive(Debug)]
pub struct Accepted {
    pub bytes: Vec<u8>,
    pub kind: Kind,
}

/// Decides what `bytes` are (one of `allowed`) and what of them to store, or why they are
/// refused (the answer names `accepted`). Decoding is CPU work: it runs on the blocking pool,
/// as password hashing does, so other requests on this runtime are not held up.
pub async fn accept(
    bytes: Vec<u8>,
    allowed: &'static [Kind],
    accepted: &'static str,
) -> ApiResult<Accepted> {
    tokio::task::spawn_blocking(move || accept_blocking(bytes, allowed))
        .await
        .map_err(ApiError::internal)?
        .map_err(|r| refusal_error(r, accepted))
}

/// [`accept`] on the calling thread.
pub fn accept_blocking(bytes: Vec<u8>, allowed: &[Kind]) -> Result<Accepted, Refusal> {
    let kind = detect(&bytes, allowed)?;
    let bytes = match kind {
        Kind::Png | Kind::Jpeg | Kind::Webp => images::reencode(&bytes, kind)?,
        Kind::Pdf => {
            pdf::check(&bytes)?;
            bytes
        }
        Kind::Csv => {
            // `detect` has checked the text is UTF-8.
            let text = std::str::from_utf8(&bytes).map_err(|_| Refusal::UnknownType)?;
            match formulas::neutralise(text) {
                Ok(Some(neutralised)) => neutralised.into_bytes(),
                Ok(None) => bytes,
                Err(_) => return Err(Refusal::Damaged("a CSV that cannot be read")),
            }
        }
    };
    Ok(Accepted { bytes, kind })
}

/// The uploaded file: its bytes and the name the client gave it (for the download name only).
pub struct UploadedFile {
    pub bytes: Vec<u8>,
    pub file_name: Option<String>,
}

/// Reads the `file` part of a multipart body of at most `max_bytes` file bytes.
pub async fn file_part(req: &Request, max_bytes: usize) -> ApiResult<UploadedFile> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the file as multipart/form-data with a part named `file`.",
        )
    })?;
    let body = bytes::Bytes::copy_from_slice(req.body().as_ref());
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().for_field("file", max_bytes as u64));
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The file is larger than {} KiB.", max_bytes / 1024),
        )
    };
    let malformed = || ApiError::bad_request("The multipart body could not be read.");
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(multer::Error::FieldSizeExceeded { .. }) => return Err(too_large()),
            Err(_) => return Err(malformed()),
        };
        if field.name() != Some("file") {
            continue;
        }
        let file_name = field.file_name().map(str::to_string);
        let bytes = match field.bytes().await {
            Ok(b) => b.to_vec(),
            Err(multer::Error::FieldSizeExceeded { .. }) => return Err(too_large()),
            Err(_) => return Err(malformed()),
        };
        return Ok(UploadedFile { bytes, file_name });
    }
    let mut fields = BTreeMap::new();
    fields.insert("file".to_string(), "This field is required.".to_string());
    Err(ApiError::invalid_fields(fields))
}

/// Decides what `bytes` are, if they are one of `allowed` and whole.
pub fn detect(bytes: &[u8], allowed: &[Kind]) -> Result<Kind, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    let kind = sniff(bytes).ok_or(Refusal::UnknownType)?;
    if !allowed.contains(&kind) {
        return Err(Refusal::UnknownType);
    }
    let size = match kind {
        Kind::Png => Some(png_size(bytes)?),
        Kind::Jpeg => Some(jpeg_size(bytes)?),
        Kind::Webp => Some(webp_size(bytes)?),
        Kind::Pdf if !pdf::has_end_marker(bytes) => {
            return Err(Refusal::Damaged("PDF without its end marker"))
        }
        Kind::Pdf => None,
        Kind::Csv => None,
    };
    if let Some((w, h)) = size {
        if w == 0 || h == 0 {
            return Err(Refusal::Damaged("an image without pixels"));
        }
        if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
            return Err(Refusal::TooManyPixels);
        }
    }
    Ok(kind)
}

/// The answer to a refused file, naming what is accepted.
pub fn refusal_error(refusal: Refusal, accepted: &str) -> ApiError {
    match refusal {
        Refusal::Empty => ApiError::bad_request("The file is empty."),
        Refusal::UnknownType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported file type: send {accepted}."),
        ),
        Refusal::Damaged(what) => ApiError::bad_request(format!("The file is damaged or incomplete ({what}).")),
        Refusal::TooManyPixels => ApiError::bad_request(format!(
            "The image is too large: at most {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels in all."
        )),
        Refusal::Active(what) => ApiError::bad_request(format!(
            "The PDF carries {what}, which could run when it is opened: send a plain document."
        )),
        Refusal::Encrypted => ApiError::bad_request(
            "The PDF is encrypted or password-protected: send it without protection.",
        ),
    }
}

fn sniff(b: &[u8]) -> Option<Kind> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some(Kind::Webp)
    } else if b.starts_with(b"%PDF-") {
        Some(Kind::Pdf)
    } else if formulas::is_csv_text(b) {
        Some(Kind::Csv)
    } else {
        None
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Walks every chunk (length, type, CRC) up to `IEND`; returns the IHDR size.
fn png_size(b: &[u8]) -> Result<(u32, u32), Refusal> {
    let damaged = Refusal::Damaged;
    let mut at = 8;
    let mut size = None;
    loop {
        let len = be32(b, at).ok_or(damaged("PNG chunk header cut off"))? as usize;
        let end = at
            .checked_add(12 + len)
            .ok_or(damaged("PNG chunk length"))?;
        let chunk = b.get(at + 4..end - 4).ok_or(damaged("PNG chunk cut off"))?;
        let crc = be32(b, end - 4).ok_or(damaged("PNG CRC cut off"))?;
        if crc32fast::hash(chunk) != crc {
            return Err(damaged("PNG CRC mismatch"));
        }
        let kind = &chunk[..4];
        if at == 8 {
            if kind != b"IHDR" || len != 13 {
                return Err(damaged("PNG without IHDR"));
            }
            size = Some((be32(b, at + 8).unwrap_or(0), be32(b, at + 12).unwrap_or(0)));
        }
        at = end;
        if kind == b"IEND" {
            return size.ok_or(damaged("PNG without IHDR"));
        }
    }
}

/// Walks the JPEG markers to the frame header; the file must end with the EOI marker.
fn jpeg_size(b: &[u8]) -> Result<(u32, u32), Refusal> {
    let damaged = Refusal::Damaged;
    let trimmed = {
        let mut end = b.len();
        while end > 2 && b[end - 1] == 0 {
            end -= 1;
        }
        &b[..end]
    };
    if !trimmed.ends_with(&[0xFF, 0xD9]) {
        return Err(damaged("JPEG without its end marker"));
    }
    let mut at = 2;
    while at + 4 <= b.len() {
        if b[at] != 0xFF {
            return Err(damaged("JPEG marker expected"));
        }
        let marker = b[at + 1];
        if marker == 0xFF {
            at += 1;
            continue;
        }
        let len = u16::from_be_bytes([b[at + 2], b[at + 3]]) as usize;
        let is_frame = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if is_frame {
            let seg = b
                .get(at + 4..at + 2 + len)
                .ok_or(damaged("JPEG frame header cut off"))?;
            if seg.len() < 5 {
                return Err(damaged("JPEG frame header"));
            }
            let h = u16::from_be_bytes([seg[1], seg[2]]) as u32;
            let w = u16::from_be_bytes([seg[3], seg[4]]) as u32;
            return Ok((w, h));
        }
        if marker == 0xDA || len < 2 {
            break;
        }
        at += 2 + len;
    }
    Err(damaged("JPEG without a frame header"))
}

/// The RIFF length must cover the file exactly; the size comes from VP8X, VP8 or VP8L.
fn webp_size(b: &[u8]) -> Result<(u32, u32), Refusal> {
    let damaged = Refusal::Damaged;
    let riff = u32::from_le_bytes(b[4..8].try_into().unwrap_or_default()) as usize;
    if riff + 8 != b.len() && riff + 8 + 1 != b.len() {
        return Err(damaged("WebP length does not match the file"));
    }
    let chunk = b.get(12..16).ok_or(damaged("WebP chunk cut off"))?;
    let data = b.get(20..).ok_or(damaged("WebP chunk cut off"))?;
    let le24 = |d: &[u8]| u32::from(d[0]) | u32::from(d[1]) << 8 | u32::from(d[2]) << 16;
    match chunk {
        b"VP8X" if data.len() >= 10 => Ok((le24(&data[4..7]) + 1, le24(&data[7..10]) + 1)),
        b"VP8 " if data.len() >= 10 && data[3..6] == [0x9D, 0x01, 0x2A] => Ok((
            u32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3FFF),
            u32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3FFF),
        )),
        b"VP8L" if data.len() >= 5 && data[0] == 0x2F => {
            let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        _ => Err(damaged("WebP without a known image chunk")),
    }
}

/// Small valid files of each type, built in code: for this crate's tests, and for the acceptance
/// suite through the `fixtures` feature. Never in a function's binary.
#[cfg(any(test, feature = "fixtures"))]
pub mod samples;

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    const IMAGES: &[Kind] = &[Kind::Png, Kind::Jpeg, Kind::Webp];
    const FILES: &[Kind] = &[Kind::Pdf, Kind::Csv, Kind::Png, Kind::Jpeg];

    #[test]
    fn each_allowed_type_is_recognised_by_its_bytes() {
        assert_eq!(detect(&png(3, 2), IMAGES), Ok(Kind::Png));
        assert_eq!(detect(&jpeg(640, 480), IMAGES), Ok(Kind::Jpeg));
        assert_eq!(detect(&webp(100, 50), IMAGES), Ok(Kind::Webp));
        assert_eq!(detect(&pdf(), FILES), Ok(Kind::Pdf));
        assert_eq!(detect(b"a,b\n1,2\n", FILES), Ok(Kind::Csv));
        assert_eq!(
            detect("name,city\nJosé,Kampala\n".as_bytes(), FILES),
            Ok(Kind::Csv)
        );
    }

    #[test]
    fn other_types_and_types_outside_the_list_are_refused() {
        assert_eq!(
            detect(b"\x7fELF\x02\x01\x01\0\0\0", IMAGES),
            Err(Refusal::UnknownType)
        );
        assert_eq!(detect(b"MZ\x90\0\x03\0", FILES), Err(Refusal::UnknownType));
        assert_eq!(
            detect(b"<!DOCTYPE html><script>x</script>", FILES),
            Err(Refusal::UnknownType)
        );
        assert_eq!(
            detect(b"a,b\n<script>alert(1)</script>", FILES),
            Err(Refusal::UnknownType)
        );
        assert_eq!(detect(&pdf(), IMAGES), Err(Refusal::UnknownType));
        assert_eq!(detect(&webp(10, 10), FILES), Err(Refusal::UnknownType));
        assert_eq!(detect(b"a,b\0c", FILES), Err(Refusal::UnknownType));
        assert_eq!(detect(&[0xC3, 0x28], FILES), Err(Refusal::UnknownType));
        assert_eq!(detect(b"", FILES), Err(Refusal::Empty));
    }

    #[test]
    fn truncated_or_corrupted_images_are_refused() {
        let p = png(3, 2);
        for cut in [10, 20, 33, p.len() - 1, p.len() - 12] {
            assert!(
                matches!(detect(&p[..cut], IMAGES), Err(Refusal::Damaged(_))),
                "cut at {cut}"
            );
        }
        let mut flipped = p.clone();
        flipped[20] ^= 1;
        assert!(matches!(detect(&flipped, IMAGES), Err(Refusal::Damaged(_))));
        let j = jpeg(10, 10);
        assert!(matches!(
            detect(&j[..j.len() - 2], IMAGES),
            Err(Refusal::Damaged(_))
        ));
        let w = webp(10, 10);
        assert!(matches!(
            detect(&w[..w.len() - 3], IMAGES),
            Err(Refusal::Damaged(_))
        ));
        let d = pdf();
        assert!(matches!(
            detect(&d[..d.len() - 8], FILES),
            Err(Refusal::Damaged(_))
        ));
    }

    #[test]
    fn decompression_bombs_are_refused_by_their_declared_size() {
        assert_eq!(
            detect(&png_declaring(50_000, 50_000), IMAGES),
            Err(Refusal::TooManyPixels)
        );
        assert_eq!(detect(&png(10_001, 1), IMAGES), Err(Refusal::TooManyPixels));
        assert_eq!(
            detect(&jpeg_declaring(9_000, 9_000), IMAGES),
            Err(Refusal::TooManyPixels)
        );
        assert_eq!(
            detect(&webp_declaring(16_000, 16_000), IMAGES),
            Err(Refusal::TooManyPixels)
        );
        assert!(matches!(
            detect(&png_declaring(0, 5), IMAGES),
            Err(Refusal::Damaged(_))
        ));
    }
}
