//! [`DeviceStore`] on SQLite: the `devices` table, one row per known device token (by its hash).

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::store::{DeviceRecord, DeviceStore, StoreError};

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn put_device(&self, d: &DeviceRecord) -> Result<(), StoreError> {
        let d = d.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO devices (token_hash, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![d.token_hash, d.user_id as i64, d.created_at, d.expires_at],
            )
            .map(drop)
        })
        .await
    }

    async fn device(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let token_hash = token_hash.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT user_id, created_at, expires_at FROM devices WHERE token_hash = ?1",
                [&token_hash],
                |r| {
                    Ok(DeviceRecord {
                        token_hash: token_hash.clone(),
                        user_id: r.get::<_, i64>(0)? as u64,
                        created_at: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
            .optional()
        })
        .await
    }
}
