//! [`TokenStore`] on SQLite: the `refresh_tokens` table and the `revoked_families`.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::SqliteStore;
use crate::store::{RefreshRecord, Rotation, StoreError, TokenStore};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn put_refresh(&self, r: &RefreshRecord) -> Result<(), StoreError> {
        let r = r.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO refresh_tokens (jti, user_id, family, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![r.jti, r.user_id as i64, r.family, r.expires_at],
            )
            .map(drop)
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        old_jti: &str,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let (old_jti, new) = (old_jti.to_string(), new.clone());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let old: Option<(i64, String, bool, i64)> = tx
                .query_row(
                    "SELECT user_id, family, spent, expires_at FROM refresh_tokens WHERE jti = ?1",
                    [&old_jti],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((user_id, family, spent, expires_at)) = old else {
                return Ok(Rotation::Unknown);
            };
            if user_id as u64 != new.user_id || family != new.family || expires_at <= now {
                return Ok(Rotation::Unknown);
            }
            let revoked = tx
                .query_row("SELECT 1 FROM revoked_families WHERE family = ?1", [&family], |_| Ok(()))
                .optional()?
                .is_some();
            if spent || revoked {
                tx.execute(
                    "INSERT OR IGNORE INTO revoked_families (family, revoked_at) VALUES (?1, ?2)",
                    params![family, now],
                )?;
                tx.commit()?;
                return Ok(Rotation::Reused);
            }
            tx.execute("UPDATE refresh_tokens SET spent = 1 WHERE jti = ?1", [&old_jti])?;
            tx.execute(
                "INSERT INTO refresh_tokens (jti, user_id, family, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![new.jti, new.user_id as i64, new.family, new.expires_at],
            )?;
            tx.commit()?;
            Ok(Rotation::Rotated)
        })
        .await
    }
}
