//! Sample files built in code. Images come from the `image` crate's encoders, so they decode
//! whole; the `*_declaring` builders write only a header that claims a size (decompression-bomb
//! tests: nobody could afford to encode the image they claim). PDFs are written object by
//! object, with a cross-reference table, optionally compressed streams and object streams.

use std::io::Write;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ImageEncoder, RgbImage, RgbaImage};

/// A `w` × `h` picture with some structure: a gradient, darker in the top half.
fn picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let top = y < h / 2;
        let base = if top { 20 } else { 200 };
        image::Rgb([base + (x % 40) as u8, base, base + (y % 40) as u8])
    })
}

/// A PNG of `w` × `h` RGB pixels that decodes whole.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(picture(w, h).as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encoding a sample PNG");
    out
}

/// A PNG of `w` × `h` RGBA pixels (half transparent) that decodes whole.
pub fn png_rgba(w: u32, h: u32) -> Vec<u8> {
    let img = RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 90, 128]));
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgba8)
        .expect("encoding a sample PNG");
    out
}

/// A JPEG of `w` × `h` that decodes whole (baseline, quality 90).
pub fn jpeg(w: u16, h: u16) -> Vec<u8> {
    let (w, h) = (u32::from(w), u32::from(h));
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(picture(w, h).as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encoding a sample JPEG");
    out
}

/// A JPEG of `w` × `h` (dark top half) carrying an Exif block: the given orientation tag, and a
/// description `EXIF-SECRET-PLACE` standing for the camera's location data.
pub fn jpeg_with_exif(w: u16, h: u16, orientation: u16) -> Vec<u8> {
    let plain = jpeg(w, h);
    // TIFF header (little endian), IFD0 with two entries: ImageDescription, Orientation.
    let text = b"EXIF-SECRET-PLACE\0";
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    tiff.extend(2u16.to_le_bytes());
    let text_at = 8 + 2 + 2 * 12 + 4;
    tiff.extend(0x010Eu16.to_le_bytes()); // ImageDescription, ASCII
    tiff.extend(2u16.to_le_bytes());
    tiff.extend((text.len() as u32).to_le_bytes());
    tiff.extend((text_at as u32).to_le_bytes());
    tiff.extend(0x0112u16.to_le_bytes()); // Orientation, SHORT
    tiff.extend(3u16.to_le_bytes());
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(u32::from(orientation).to_le_bytes());
    tiff.extend(0u32.to_le_bytes()); // no next IFD
    tiff.extend(text);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    out
}

/// A lossless WebP of `w` × `h` that decodes whole.
pub fn webp(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(picture(w, h).as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encoding a sample WebP");
    out
}

/// A PNG with valid chunks and CRCs whose header claims `w` × `h` and whose `IDAT` holds `idat`
/// as it is: for bombs (a claimed size) and for polyglots (data that is not an image).
pub fn png_chunks(w: u32, h: u32, idat: &[u8]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend(data);
        out.extend(&c);
        out.extend(crc32fast::hash(&c).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit greyscale
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A PNG header claiming `w` × `h` with a few rows of zeros: structurally whole, never an image
/// of that size (decompression-bomb tests).
pub fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let row = 1 + w.min(4096) as usize;
    let raw = vec![0u8; row * h.min(4) as usize];
    // zlib header, one stored block, Adler-32 of zeros is (1, len) packed.
    let mut idat = vec![0x78, 0x01, 0x01];
    idat.extend((raw.len() as u16).to_le_bytes());
    idat.extend((!(raw.len() as u16)).to_le_bytes());
    idat.extend(&raw);
    let adler = ((raw.len() as u32 % 65521) << 16) | 1;
    idat.extend(adler.to_be_bytes());
    png_chunks(w, h, &idat)
}

/// A JPEG claiming `w` × `h`: SOI, a frame header, EOI, and no scan at all.
pub fn jpeg_declaring(w: u16, h: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    out.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    out.extend([0xFF, 0xC0, 0x00, 0x0B, 0x08]);
    out.extend(h.to_be_bytes());
    out.extend(w.to_be_bytes());
    out.extend([0x01, 0x01, 0x11, 0x00]);
    out.extend([0xFF, 0xD9]);
    out
}

/// An extended WebP (VP8X) header claiming `w` × `h`, with no image data.
pub fn webp_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut data = vec![0u8; 4];
    data.extend(&(w - 1).to_le_bytes()[..3]);
    data.extend(&(h - 1).to_le_bytes()[..3]);
    let mut out = b"RIFF".to_vec();
    out.extend(((4 + 8 + data.len()) as u32).to_le_bytes());
    out.extend(b"WEBPVP8X");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

/// A PDF of the given objects (numbered from 1, `obj`/`endobj` added here), with a
/// cross-reference table and a trailer of `/Root 1 0 R` plus `trailer_extra`.
pub fn pdf_of(objects: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        writeln!(out, "{} 0 obj", i + 1).unwrap();
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).unwrap();
    for at in offsets {
        writeln!(out, "{at:010} 00000 n ").unwrap();
    }
    write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    )
    .unwrap();
    out
}

/// A stream object's body: `dict_extra` plus its `/Length`, then the data.
pub fn stream(dict_extra: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict_extra} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend(data);
    out.extend(b"\nendstream");
    out
}

/// `data` compressed as a `/FlateDecode` stream would hold it.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// A compressed object stream holding `objects` (number, body), as PDF 1.5 writers make them.
pub fn object_stream(objects: &[(u32, &str)]) -> Vec<u8> {
    let mut header = String::new();
    let mut bodies = String::new();
    for (number, body) in objects {
        header.push_str(&format!("{number} {} ", bodies.len()));
        bodies.push_str(body);
        bodies.push('\n');
    }
    let data = deflate(format!("{header}{bodies}").as_bytes());
    stream(
        &format!(
            "/Type /ObjStm /N {} /First {} /Filter /FlateDecode",
            objects.len(),
            header.len()
        ),
        &data,
    )
}

/// A one-page PDF: catalog, pages, a page and its compressed content stream.
pub fn pdf() -> Vec<u8> {
    pdf_of(
        &[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>".to_vec(),
            stream(
                "/Filter /FlateDecode",
                &deflate(b"BT /F1 12 Tf 20 100 Td (Statement) Tj ET"),
            ),
        ],
        "",
    )
}
