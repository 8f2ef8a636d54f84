//! Images are stored as what they decode to, never as they came: decoded by the `image` crate
//! (PNG, JPEG and WebP only) within the pixel and memory limits, turned upright by their Exif
//! orientation, and encoded again in the same format with no metadata. Whatever was not pixels
//! (bytes after the end marker, Exif with its location, comments, a second file hidden in a
//! polyglot) is not in what is stored, and a file that does not decode is refused.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use super::{Kind, Refusal, MAX_PIXELS, MAX_SIDE};

/// JPEGs are encoded again at this quality: visually the same as a camera's, about half the
/// size of 100.
pub const JPEG_QUALITY: u8 = 90;

/// The most memory one decode may take: 4 bytes (8-bit RGBA) for each of `MAX_PIXELS`, 160 MB.
/// A 16-bit image that large is refused as too large rather than decoded.
pub const MAX_DECODE_BYTES: u64 = 4 * MAX_PIXELS;

/// The bytes to store for an image of `kind`: decoded, upright, re-encoded without metadata.
/// WebP is encoded losslessly (the only WebP encoder the crate has), so it stays WebP.
pub fn reencode(bytes: &[u8], kind: Kind) -> Result<Vec<u8>, Refusal> {
    let image = decode(bytes, kind)?;
    encode(&image, kind)
}

fn format(kind: Kind) -> Result<ImageFormat, Refusal> {
    match kind {
        Kind::Png => Ok(ImageFormat::Png),
        Kind::Jpeg => Ok(ImageFormat::Jpeg),
        Kind::Webp => Ok(ImageFormat::WebP),
        Kind::Pdf | Kind::Csv => Err(Refusal::UnknownType),
    }
}

/// The decoder's limits: the sides and the memory a decode may use (decompression bombs).
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn refusal(e: ImageError) -> Refusal {
    match e {
        ImageError::Limits(_) => Refusal::TooManyPixels,
        _ => Refusal::Damaged("the image does not decode"),
    }
}

/// Decodes the whole image, checking its size before any pixel is read.
fn decode(bytes: &[u8], kind: Kind) -> Result<DynamicImage, Refusal> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format(kind)?);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(Refusal::Damaged("an image without pixels"));
    }
    if w > MAX_SIDE
        || h > MAX_SIDE
        || u64::from(w) * u64::from(h) > MAX_PIXELS
        || decoder.total_bytes() > MAX_DECODE_BYTES
    {
        return Err(Refusal::TooManyPixels);
    }
    // A damaged Exif block costs the image its orientation, not its acceptance.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Encodes `image` as `kind`, converting to a pixel layout the encoder takes where needed.
fn encode(image: &DynamicImage, kind: Kind) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    let written = match kind {
        Kind::Png => image.write_with_encoder(PngEncoder::new(&mut out)),
        Kind::Jpeg => {
            let converted;
            let image = match image {
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image,
                other => {
                    converted = DynamicImage::ImageRgb8(other.to_rgb8());
                    &converted
                }
            };
            image.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        }
        Kind::Webp => {
            let converted;
            let image = match image {
                DynamicImage::ImageLuma8(_)
                | DynamicImage::ImageLumaA8(_)
                | DynamicImage::ImageRgb8(_)
                | DynamicImage::ImageRgba8(_) => image,
                other => {
                    converted = DynamicImage::ImageRgba8(other.to_rgba8());
                    &converted
                }
            };
            image.write_with_encoder(WebPEncoder::new_lossless(&mut out))
        }
        Kind::Pdf | Kind::Csv => return Err(Refusal::UnknownType),
    };
    written.map_err(|_| Refusal::Damaged("the image could not be encoded again"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    fn decoded(bytes: &[u8]) -> DynamicImage {
        image::load_from_memory(bytes).expect("stored bytes decode")
    }

    #[test]
    fn trailing_bytes_are_gone_and_the_pixels_stay() {
        let png = samples::png_rgba(9, 7);
        let polyglot = [png.clone(), b"<script>alert(1)</script>".to_vec()].concat();
        let stored = reencode(&polyglot, Kind::Png).unwrap();
        assert!(!stored.windows(7).any(|w| w == b"<script"));
        assert_eq!(decoded(&stored).to_rgba8(), decoded(&png).to_rgba8());
    }

    #[test]
    fn each_format_stays_itself() {
        for (bytes, kind, format) in [
            (samples::png(8, 8), Kind::Png, ImageFormat::Png),
            (samples::jpeg(8, 8), Kind::Jpeg, ImageFormat::Jpeg),
            (samples::webp(8, 8), Kind::Webp, ImageFormat::WebP),
        ] {
            let stored = reencode(&bytes, kind).unwrap();
            assert_eq!(image::guess_format(&stored).unwrap(), format);
            if kind != Kind::Jpeg {
                assert_eq!(
                    decoded(&stored).to_rgb8(),
                    decoded(&bytes).to_rgb8(),
                    "lossless"
                );
            }
        }
    }

    #[test]
    fn exif_orientation_is_applied_and_exif_dropped() {
        for (orientation, dims) in [(1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))] {
            let stored =
                reencode(&samples::jpeg_with_exif(40, 20, orientation), Kind::Jpeg).unwrap();
            assert!(!stored.windows(4).any(|w| w == b"Exif"), "{orientation}");
            let img = decoded(&stored).to_luma8();
            assert_eq!(img.dimensions(), dims, "{orientation}");
        }
        // 3 is upside down: the dark half ends at the bottom.
        let img =
            decoded(&reencode(&samples::jpeg_with_exif(40, 20, 3), Kind::Jpeg).unwrap()).to_luma8();
        assert!(img.get_pixel(20, 17)[0] < 100 && img.get_pixel(20, 2)[0] > 150);
    }

    #[test]
    fn what_does_not_decode_is_refused() {
        for (bytes, kind) in [
            (
                samples::png_chunks(4, 4, b"<html>not pixels</html>"),
                Kind::Png,
            ),
            (samples::png_declaring(64, 64), Kind::Png),
            (samples::jpeg_declaring(64, 64), Kind::Jpeg),
            (samples::webp_declaring(64, 64), Kind::Webp),
            (b"\x89PNG\r\n\x1a\n".to_vec(), Kind::Png),
        ] {
            assert_eq!(
                reencode(&bytes, kind),
                Err(Refusal::Damaged("the image does not decode")),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn declared_sizes_past_the_limits_are_refused_before_decoding() {
        assert_eq!(
            reencode(&samples::png_declaring(10_001, 2), Kind::Png),
            Err(Refusal::TooManyPixels)
        );
        assert_eq!(
            reencode(&samples::png_declaring(8_000, 8_000), Kind::Png),
            Err(Refusal::TooManyPixels)
        );
    }
}
