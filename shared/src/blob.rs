//! The blob port: avatars and uploads in a private S3 bucket (server-side encryption, presigned
//! GET URLs), or locally in a directory the gateway serves through the same kind of expiring,
//! signed URL.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::ServerSideEncryption;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// How an object is served back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMeta {
    pub content_type: String,
    /// `Content-Disposition`, e.g. `attachment; filename="x.pdf"`.
    pub disposition: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("blob store: {0}")]
pub struct BlobError(pub String);

/// Private object storage.
#[async_trait]
pub trait Blobs: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, meta: &BlobMeta) -> Result<(), BlobError>;
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Deletes every object whose key starts with `prefix`.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), BlobError>;
    /// Whether an object exists (tests and clean-up checks).
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;
    /// The keys below `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    /// A URL that downloads the object until `ttl` has passed, served as `serve` says where
    /// the store lets the URL say it (S3: `response-content-type` and
    /// `-disposition`, so even an object stored with other metadata is served this way).
    async fn url(&self, key: &str, ttl: Duration, serve: &BlobMeta) -> Result<String, BlobError>;
}

/// S3: private bucket, SSE-S3 on every object, presigned GETs.
pub struct S3Blobs {
    pub client: crate::context::LazyClient<aws_sdk_s3::Client>,
    pub bucket: String,
}

fn s3_err(e: impl std::error::Error + 'static) -> BlobError {
    BlobError(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, meta: &BlobMeta) -> Result<(), BlobError> {
        self.client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(bytes.into())
            .content_type(&meta.content_type)
            .set_content_disposition(meta.disposition.clone())
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.client
            .get()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), BlobError> {
        for key in self.list(prefix).await? {
            self.delete(&key).await?;
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .get()
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(s3_err)?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
            token = page.next_continuation_token().map(String::from);
            if token.is_none() {
                keys.sort();
                return Ok(keys);
            }
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        match self
            .client
            .get()
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn url(&self, key: &str, ttl: Duration, serve: &BlobMeta) -> Result<String, BlobError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| BlobError(e.to_string()))?;
        let presigned = self
            .client
            .get()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_type(&serve.content_type)
            .set_response_content_disposition(serve.disposition.clone())
            .presigned(config)
            .await
            .map_err(s3_err)?;
        Ok(presigned.uri().to_string())
    }
}

/// The local stand-in: files under a directory, each with a `.meta.json` beside it, served by
/// the gateway at `/_local/blobs/<key>?expires=…&sig=…` (an HMAC of key and expiry).
pub struct LocalBlobs {
    dir: PathBuf,
    base_url: String,
    secret: Vec<u8>,
}

impl LocalBlobs {
    pub fn new(dir: impl Into<PathBuf>, base_url: impl Into<String>, secret: Vec<u8>) -> Self {
        LocalBlobs {
            dir: dir.into(),
            base_url: base_url.into(),
            secret,
        }
    }

    /// The file of `key`, refusing anything that could leave the directory.
    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        let relative = Path::new(key);
        let safe = !key.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !safe || key.ends_with(".meta.json") {
            return Err(BlobError(format!("invalid key {key:?}")));
        }
        Ok(self.dir.join(relative))
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        let mut mac = crate::crypto::hmac(&self.secret);
        mac.update(format!("blob:{key}:{expires}").as_bytes());
        crate::crypto::hex(&mac.finalize().into_bytes())
    }

    /// The object behind a URL the gateway received, if its signature is right and unexpired.
    pub fn open_signed(
        &self,
        key: &str,
        expires: i64,
        sig: &str,
        now: i64,
    ) -> Option<(Vec<u8>, BlobMeta)> {
        let expected = self.signature(key, expires);
        if expires <= now || !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
            return None;
        }
        let path = self.path(key).ok()?;
        let bytes = std::fs::read(&path).ok()?;
        let meta = std::fs::read(meta_path(&path)).ok()?;
        Some((bytes, serde_json::from_slice(&meta).ok()?))
    }
}

fn meta_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".meta.json");
    path.with_file_name(name)
}

fn io_err(e: std::io::Error) -> BlobError {
    BlobError(e.to_string())
}

#[async_trait]
impl Blobs for LocalBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, meta: &BlobMeta) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let meta = serde_json::to_vec(meta).map_err(|e| BlobError(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
            // Write each file to a temporary name of its own, then rename: a reader never sees
            // half a file, and two writers of one key (a retried upload) never share a
            // temporary file, so the last rename wins whole, as S3's last PUT does.
            let unique = crate::jwt::random_id();
            let partial = |target: &Path| {
                let mut name = target.as_os_str().to_owned();
                name.push(format!(".{unique}.partial"));
                std::path::PathBuf::from(name)
            };
            let (tmp, tmp_meta, meta_file) =
                (partial(&path), partial(&meta_path(&path)), meta_path(&path));
            std::fs::write(&tmp, &bytes)?;
            std::fs::write(&tmp_meta, &meta)?;
            std::fs::rename(&tmp_meta, &meta_file)?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|e| BlobError(e.to_string()))?
        .map_err(io_err)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        for p in [meta_path(&path), path] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(e)),
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), BlobError> {
        let dir = self.path(prefix.trim_end_matches('/'))?;
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(e)),
            _ => Ok(()),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        Ok(self.path(key)?.is_file())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else if let Ok(rel) = path.strip_prefix(base) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if !key.ends_with(".meta.json") && !key.ends_with(".partial") {
                        out.push(key);
                    }
                }
            }
        }
        let mut keys = Vec::new();
        walk(&self.dir, &self.dir, &mut keys);
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }

    /// The gateway serves the metadata stored beside the file (written by `put` from the same
    /// [`BlobMeta`]), with `X-Content-Type-Options: nosniff`, which S3 cannot send.
    async fn url(&self, key: &str, ttl: Duration, _serve: &BlobMeta) -> Result<String, BlobError> {
        self.path(key)?;
        let expires = crate::now() + ttl.as_secs() as i64;
        let sig = self.signature(key, expires);
        Ok(format!(
            "{}/_local/blobs/{key}?expires={expires}&sig={sig}",
            self.base_url
        ))
    }
}

// Blob keys: every object a user owns lives under one of these prefixes.

/// Where a user's avatars live.
pub fn avatar_prefix(user_id: u64) -> String {
    format!("avatars/{user_id}/")
}

/// How an avatar is stored and served: as the type it was stored as (its key's extension),
/// inline (a browser shows it), under a fixed, harmless name.
pub fn avatar_meta(key: &str) -> BlobMeta {
    let ext = key.rsplit_once('.').map_or("", |(_, ext)| ext);
    match crate::upload::Kind::from_extension(ext) {
        Some(kind) => BlobMeta {
            content_type: kind.mime().to_string(),
            disposition: Some(format!("inline; filename=\"avatar.{ext}\"")),
        },
        None => BlobMeta {
            content_type: "application/octet-stream".to_string(),
            disposition: Some("attachment".to_string()),
        },
    }
}

/// Where a user's uploads live.
pub fn upload_prefix(user_id: u64) -> String {
    format!("uploads/{user_id}/")
}

impl crate::Ctx {
    /// Removes every object the user owns (avatars and uploads).
    pub async fn delete_user_blobs(&self, user_id: u64) -> crate::ApiResult<()> {
        for prefix in [avatar_prefix(user_id), upload_prefix(user_id)] {
            self.blobs
                .delete_prefix(&prefix)
                .await
                .map_err(crate::ApiError::internal)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(dir: &Path) -> LocalBlobs {
        LocalBlobs::new(dir, "http://x", b"secret".to_vec())
    }

    #[tokio::test]
    async fn signed_urls_open_until_they_expire_and_only_with_the_right_signature() {
        let dir = tempfile::tempdir().unwrap();
        let b = blobs(dir.path());
        let meta = BlobMeta {
            content_type: "image/png".into(),
            disposition: None,
        };
        b.put("avatars/1/a.png", vec![1, 2, 3], &meta)
            .await
            .unwrap();
        let url = b
            .url("avatars/1/a.png", Duration::from_secs(60), &meta)
            .await
            .unwrap();
        let query = url.split('?').nth(1).unwrap();
        let expires: i64 = query
            .split('&')
            .next()
            .unwrap()
            .trim_start_matches("expires=")
            .parse()
            .unwrap();
        let sig = query.split("sig=").nth(1).unwrap();
        assert_eq!(
            b.open_signed("avatars/1/a.png", expires, sig, expires - 1)
                .unwrap(),
            (vec![1, 2, 3], meta)
        );
        assert!(
            b.open_signed("avatars/1/a.png", expires, sig, expires)
                .is_none(),
            "expired"
        );
        assert!(
            b.open_signed("avatars/1/a.png", expires + 1, sig, 0)
                .is_none(),
            "expiry changed"
        );
        assert!(
            b.open_signed("avatars/2/a.png", expires, sig, 0).is_none(),
            "other key"
        );
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let b = blobs(dir.path());
        let meta = BlobMeta {
            content_type: "text/plain".into(),
            disposition: None,
        };
        for key in ["../x", "/etc/passwd", "a/../../x", "", "a/b.meta.json"] {
            assert!(b.put(key, vec![1], &meta).await.is_err(), "{key}");
        }
    }

    #[tokio::test]
    async fn delete_prefix_removes_everything_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let b = blobs(dir.path());
        let meta = BlobMeta {
            content_type: "text/plain".into(),
            disposition: None,
        };
        b.put("uploads/7/a.csv", vec![1], &meta).await.unwrap();
        b.put("uploads/7/b.csv", vec![1], &meta).await.unwrap();
        b.put("uploads/8/c.csv", vec![1], &meta).await.unwrap();
        b.delete_prefix("uploads/7/").await.unwrap();
        assert!(!b.exists("uploads/7/a.csv").await.unwrap());
        assert!(b.exists("uploads/8/c.csv").await.unwrap());
        b.delete_prefix("uploads/9/").await.unwrap();
    }
}
