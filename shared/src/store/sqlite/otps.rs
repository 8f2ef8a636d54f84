//! [`OtpStore`] on SQLite: the `otps` table, one row per user (its latest login attempt).

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::store::{OtpBudget, OtpRecord, OtpStore, StoreError};

#[async_trait]
impl OtpStore for SqliteStore {
    async fn put_otp(&self, o: &OtpRecord) -> Result<(), StoreError> {
        let o = o.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO otps
                 (user_id, attempt_id, code_hash, expires_at, tries_left, open_tries_left)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    o.user_id as i64,
                    o.attempt_id,
                    o.code_hash,
                    o.expires_at,
                    o.tries_left,
                    o.open_tries_left
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn otp(&self, user_id: u64) -> Result<Option<OtpRecord>, StoreError> {
        self.with(move |c| {
            c.query_row(
                "SELECT attempt_id, code_hash, expires_at, tries_left, open_tries_left
                 FROM otps WHERE user_id = ?1",
                [user_id as i64],
                |r| {
                    Ok(OtpRecord {
                        user_id,
                        attempt_id: r.get(0)?,
                        code_hash: r.get(1)?,
                        expires_at: r.get(2)?,
                        tries_left: r.get(3)?,
                        open_tries_left: r.get(4)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn take_otp(&self, user_id: u64, attempt_id: &str) -> Result<bool, StoreError> {
        let attempt = attempt_id.to_string();
        self.with(move |c| {
            c.execute(
                "DELETE FROM otps WHERE user_id = ?1 AND attempt_id = ?2",
                params![user_id as i64, attempt],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn spend_otp_try(
        &self,
        user_id: u64,
        attempt_id: &str,
        budget: OtpBudget,
    ) -> Result<bool, StoreError> {
        let attempt = attempt_id.to_string();
        // Two fixed statements: the column name is never built from input.
        let sql = match budget {
            OtpBudget::Handle => {
                "UPDATE otps SET tries_left = tries_left - 1
                 WHERE user_id = ?1 AND attempt_id = ?2 AND tries_left > 0"
            }
            OtpBudget::Open => {
                "UPDATE otps SET open_tries_left = open_tries_left - 1
                 WHERE user_id = ?1 AND attempt_id = ?2 AND open_tries_left > 0"
            }
        };
        self.with(move |c| {
            c.execute(sql, params![user_id as i64, attempt])
                .map(|n| n == 1)
        })
        .await
    }
}
