//! The embedded adapter: one SQLite file in WAL mode, safe to share between the gateway's threads
//! and several function processes. Every write is one short `BEGIN IMMEDIATE` transaction, so
//! writers queue on the lock (bounded by `busy_timeout`) instead of failing half-way.
//!
//! This file holds the connection, how it is opened and how its errors map; `schema` the tables
//! and their migrations; each port's impl is in a file of its own, named after it (`users`,
//! `accounts`, `tokens`, `counters`, `otps`, `devices`, `verifications`, `throttles`).

mod accounts;
mod counters;
mod devices;
mod keys;
mod otps;
mod schema;
mod sessions;
mod throttles;
mod tokens;
mod users;
mod verifications;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use super::StoreError;
use schema::{migrate_customer_claims, migrate_otp_budgets, migrate_username_keys, SCHEMA};

/// The SQLite adapter of every data port.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its schema; a writer waits up to
    /// `busy_timeout` for another process's transaction before giving up (503).
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(map_err)?;
        conn.busy_timeout(busy_timeout).map_err(map_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(map_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(map_err)?;
        Self::init(conn)
    }

    /// A private database in memory, for unit tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(map_err)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(SCHEMA).map_err(map_err)?;
        migrate_customer_claims(&mut conn).map_err(map_err)?;
        migrate_otp_budgets(&mut conn).map_err(map_err)?;
        migrate_username_keys(&mut conn, false).map_err(map_err)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard).map_err(map_err)
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Throttled(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}
