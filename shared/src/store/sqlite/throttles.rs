//! [`Throttles`] on SQLite: the `throttles` table, one row per key and window; a hit first
//! drops the windows that are over.

use async_trait::async_trait;
use rusqlite::{params, TransactionBehavior};

use super::SqliteStore;
use crate::store::{StoreError, Throttles};

#[async_trait]
impl Throttles for SqliteStore {
    async fn hit(&self, key: &str, window_start: i64, window_secs: i64) -> Result<u64, StoreError> {
        let key = key.to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Windows that ended before this one began are of no more use.
            tx.execute(
                "DELETE FROM throttles WHERE expires_at < ?1",
                [window_start],
            )?;
            let hits: i64 = tx.query_row(
                "INSERT INTO throttles (key, window_start, hits, expires_at) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (key, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits",
                params![key, window_start, window_start + window_secs],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(hits as u64)
        })
        .await
    }

    async fn refund(&self, key: &str, window_start: i64) -> Result<(), StoreError> {
        let key = key.to_string();
        self.with(move |c| {
            c.execute(
                "UPDATE throttles SET hits = hits - 1
                 WHERE key = ?1 AND window_start = ?2 AND hits > 0",
                params![key, window_start],
            )
            .map(drop)
        })
        .await
    }
}
