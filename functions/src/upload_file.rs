//! `POST /auth/upload/`: a document or image (PDF, CSV, PNG, JPEG, decided by its bytes), stored
//! privately as an attachment of its detected type; the answer is a time-limited download URL.
//! What is stored is what `shared::upload::accept` keeps: images decoded and encoded again, CSV
//! formula cells neutralised, PDFs that can act refused.
//!
//! A client that may retry sends an `Idempotency-Key` header: the object's key is then derived
//! from the user and that key, so a retried upload replaces the first instead of adding a second.

use rand::RngCore;
use serde_json::json;
use shared::blob::upload_prefix;
use shared::blob::BlobMeta;
use shared::http::{json, StatusCode};
use shared::upload::{accept, file_part, Kind};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

const ACCEPTED: &[Kind] = &[Kind::Pdf, Kind::Csv, Kind::Png, Kind::Jpeg];

/// A download name from the client's file name: letters, digits, `.-_` only, with the detected
/// extension, so it cannot break the header or claim another type.
fn download_name(given: Option<&str>, kind: Kind) -> String {
    let stem: String = given
        .unwrap_or("file")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("file")
        .split('.')
        .next()
        .unwrap_or("file")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    let stem = if stem.is_empty() {
        "file".to_string()
    } else {
        stem
    };
    format!("{stem}.{}", kind.extension())
}

/// The `Idempotency-Key` header: 1 to 64 letters, digits, `-` or `_`.
fn idempotency_key(req: &Request) -> ApiResult<Option<String>> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("").trim();
    if key.is_empty()
        || key.len() > 64
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::bad_request(
            "The Idempotency-Key header must be 1 to 64 letters, digits, - or _.",
        ));
    }
    Ok(Some(key.to_string()))
}

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    let file = file_part(&req, ctx.config.upload_max_bytes).await?;
    let accepted = accept(file.bytes, ACCEPTED, "a PDF, CSV, PNG or JPEG file").await?;
    let kind = accepted.kind;
    let name = match idempotency_key(&req)? {
        Some(k) => shared::crypto::sha256_hex(&format!("{}:{}:{k}", caller.id, caller.customer_id))
            [..32]
            .to_string(),
        None => {
            let mut random = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut random);
            shared::crypto::hex(&random)
        }
    };
    let key = format!("{}{name}.{}", upload_prefix(caller.id), kind.extension());
    let meta = BlobMeta {
        content_type: kind.mime().to_string(),
        disposition: Some(format!(
            "attachment; filename=\"{}\"",
            download_name(file.file_name.as_deref(), kind)
        )),
    };
    ctx.blobs
        .put(&key, accepted.bytes, &meta)
        .await
        .map_err(ApiError::internal)?;
    let url = ctx
        .blobs
        .url(&key, ctx.config.blob_url_ttl, &meta)
        .await
        .map_err(ApiError::internal)?;
    Ok(json(StatusCode::CREATED, &json!({ "url": url })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_tame_and_carry_the_detected_extension() {
        assert_eq!(
            download_name(Some("passport.pdf"), Kind::Pdf),
            "passport.pdf"
        );
        assert_eq!(download_name(Some("evil.exe"), Kind::Png), "evil.png");
        assert_eq!(
            download_name(Some("../../etc/passwd"), Kind::Csv),
            "passwd.csv"
        );
        assert_eq!(download_name(Some("a\"; x=y.csv"), Kind::Csv), "axy.csv");
        assert_eq!(download_name(None, Kind::Jpeg), "file.jpg");
        assert_eq!(download_name(Some("..."), Kind::Jpeg), "file.jpg");
    }
}
