//! [`OtpStore`] on SQLite: one table per kind, one row per user: `otps` (the latest login
//! attempt's code) and `phone_codes` (confirming the phone number). The table names are fixed
//! strings chosen by the kind, never built from input.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::store::{OtpBudget, OtpKind, OtpRecord, OtpStore, StoreError};

fn table(kind: OtpKind) -> &'static str {
    match kind {
        OtpKind::SignIn => "otps",
        OtpKind::Phone => "phone_codes",
    }
}

#[async_trait]
impl OtpStore for SqliteStore {
    async fn put_otp(&self, o: &OtpRecord) -> Result<(), StoreError> {
        let o = o.clone();
        self.with(move |c| {
            c.execute(
                &format!(
                    "INSERT OR REPLACE INTO {}
                     (user_id, attempt_id, code_hash, expires_at, tries_left, open_tries_left)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    table(o.kind)
                ),
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

    async fn otp(&self, user_id: u64, kind: OtpKind) -> Result<Option<OtpRecord>, StoreError> {
        self.with(move |c| {
            c.query_row(
                &format!(
                    "SELECT attempt_id, code_hash, expires_at, tries_left, open_tries_left
                     FROM {} WHERE user_id = ?1",
                    table(kind)
                ),
                [user_id as i64],
                |r| {
                    Ok(OtpRecord {
                        user_id,
                        kind,
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

    async fn take_otp(
        &self,
        user_id: u64,
        kind: OtpKind,
        attempt_id: &str,
    ) -> Result<bool, StoreError> {
        let attempt = attempt_id.to_string();
        self.with(move |c| {
            c.execute(
                &format!(
                    "DELETE FROM {} WHERE user_id = ?1 AND attempt_id = ?2",
                    table(kind)
                ),
                params![user_id as i64, attempt],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn spend_otp_try(
        &self,
        user_id: u64,
        kind: OtpKind,
        attempt_id: &str,
        budget: OtpBudget,
    ) -> Result<bool, StoreError> {
        let attempt = attempt_id.to_string();
        // Fixed column names, chosen by the budget: never built from input.
        let column = match budget {
            OtpBudget::Handle => "tries_left",
            OtpBudget::Open => "open_tries_left",
        };
        self.with(move |c| {
            c.execute(
                &format!(
                    "UPDATE {table} SET {column} = {column} - 1
                     WHERE user_id = ?1 AND attempt_id = ?2 AND {column} > 0",
                    table = table(kind)
                ),
                params![user_id as i64, attempt],
            )
            .map(|n| n == 1)
        })
        .await
    }
}
