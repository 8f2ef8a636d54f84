//! [`VerificationStore`] on SQLite: the `verifications` table of e-mail verification links.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::store::{StoreError, Verification, VerificationStore};

#[async_trait]
impl VerificationStore for SqliteStore {
    async fn put_verification(&self, v: &Verification) -> Result<(), StoreError> {
        let v = v.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO verifications (token_hash, user_id, email, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![v.token_hash, v.user_id as i64, v.email, v.expires_at],
            )
            .map(drop)
        })
        .await
    }

    async fn take_verification(
        &self,
        token_hash: &str,
    ) -> Result<Option<Verification>, StoreError> {
        let hash = token_hash.to_string();
        self.with(move |c| {
            c.query_row(
                "DELETE FROM verifications WHERE token_hash = ?1 RETURNING user_id, email, expires_at",
                [&hash],
                |r| {
                    Ok(Verification {
                        token_hash: hash.clone(),
                        user_id: r.get::<_, i64>(0)? as u64,
                        email: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
            .optional()
        })
        .await
    }
}
