//! [`SessionStore`] on SQLite: the `sessions` table, one row per login family; ending one deletes
//! its row and revokes its family (`revoked_families`) in one transaction.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use super::SqliteStore;
use crate::store::{SessionRecord, SessionStore, StoreError};

const COLUMNS: &str = "family, user_id, token_version, started_at, refreshed_at, ends_at, \
                       source_ip, user_agent, amr, aud";

fn session_of(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        family: r.get(0)?,
        user_id: r.get::<_, i64>(1)? as u64,
        token_version: r.get::<_, i64>(2)? as u64,
        started_at: r.get(3)?,
        refreshed_at: r.get(4)?,
        ends_at: r.get(5)?,
        source_ip: r.get(6)?,
        user_agent: r.get(7)?,
        amr: r
            .get::<_, String>(8)?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        aud: r.get(9)?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let s = s.clone();
        self.with(move |c| {
            c.execute(
                &format!(
                    "INSERT OR REPLACE INTO sessions ({COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    s.family,
                    s.user_id as i64,
                    s.token_version as i64,
                    s.started_at,
                    s.refreshed_at,
                    s.ends_at,
                    s.source_ip,
                    s.user_agent,
                    s.amr.join(" "),
                    s.aud
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn session(&self, family: &str) -> Result<Option<SessionRecord>, StoreError> {
        let family = family.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM sessions WHERE family = ?1"),
                [family],
                session_of,
            )
            .optional()
        })
        .await
    }

    async fn sessions_of(&self, user_id: u64) -> Result<Vec<SessionRecord>, StoreError> {
        self.with(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS} FROM sessions WHERE user_id = ?1"
            ))?;
            let rows = statement.query_map([user_id as i64], session_of)?;
            rows.collect()
        })
        .await
    }

    async fn touch_session(
        &self,
        family: &str,
        refreshed_at: i64,
        _keep_until: i64,
    ) -> Result<bool, StoreError> {
        let family = family.to_string();
        self.with(move |c| {
            c.execute(
                "UPDATE sessions SET refreshed_at = ?2 WHERE family = ?1",
                params![family, refreshed_at],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn end_session(
        &self,
        family: &str,
        now: i64,
        _keep_until: i64,
    ) -> Result<(), StoreError> {
        let family = family.to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM sessions WHERE family = ?1", [&family])?;
            tx.execute(
                "INSERT OR IGNORE INTO revoked_families (family, revoked_at) VALUES (?1, ?2)",
                params![family, now],
            )?;
            tx.commit()
        })
        .await
    }
}
