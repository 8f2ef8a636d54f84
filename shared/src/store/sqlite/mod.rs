//! The embedded adapter: one SQLite file in WAL mode, safe to share between the gateway's threads
//! and several function processes. Every write is one short `BEGIN IMMEDIATE` transaction, so
//! writers queue on the lock (bounded by `busy_timeout`) instead of failing half-way.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::*;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username_key TEXT NOT NULL UNIQUE,
    email_key TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS users_by_customer ON users (customer_id);
CREATE TABLE IF NOT EXISTS customer_links (
    customer_id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS accounts (
    account_number TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    balance INTEGER NOT NULL,
    currency TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_by_customer ON accounts (customer_id, account_number);
CREATE TABLE IF NOT EXISTS loans (
    account_number TEXT NOT NULL,
    loan_id TEXT NOT NULL,
    disbursement_date TEXT NOT NULL,
    principal INTEGER NOT NULL,
    outstanding_amount INTEGER NOT NULL,
    PRIMARY KEY (account_number, loan_id)
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    jti TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    family TEXT NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revoked_families (
    family TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS otps (
    user_id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    tries_left INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS verifications (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    email TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS verifications_by_user ON verifications (user_id);
CREATE TABLE IF NOT EXISTS throttles (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX IF NOT EXISTS throttles_by_expiry ON throttles (expires_at);
CREATE TABLE IF NOT EXISTS counters (
    hour INTEGER NOT NULL,
    function TEXT NOT NULL,
    shard INTEGER NOT NULL,
    positive INTEGER NOT NULL DEFAULT 0,
    negative INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, function, shard)
);
";

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

/// Databases made before customer ids became claims had `users.customer_id` UNIQUE, one account
/// per id from registration on. The table is rebuilt without that (in one transaction), and the
/// approved customers' ids become their links.
fn migrate_customer_claims(conn: &mut Connection) -> rusqlite::Result<()> {
    let users: String = conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'",
        [],
        |r| r.get(0),
    )?;
    if !users.contains("customer_id TEXT NOT NULL UNIQUE") {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Dropping the table drops its AUTOINCREMENT high-water mark: without it the id of the last
    // deleted user would be given again, and that user's unexpired tokens would name the new one.
    let high: Option<i64> = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'users'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute_batch(
        "CREATE TABLE users_v2 (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             username_key TEXT NOT NULL UNIQUE,
             email_key TEXT NOT NULL UNIQUE,
             customer_id TEXT NOT NULL,
             data TEXT NOT NULL
         );
         INSERT INTO users_v2 (id, username_key, email_key, customer_id, data)
             SELECT id, username_key, email_key, customer_id, data FROM users;
         DROP TABLE users;
         ALTER TABLE users_v2 RENAME TO users;
         CREATE INDEX IF NOT EXISTS users_by_customer ON users (customer_id);
         INSERT OR IGNORE INTO customer_links (customer_id, user_id)
             SELECT customer_id, id FROM users
             WHERE json_extract(data, '$.user_type') = 'CUSTOMER'
               AND json_extract(data, '$.admin_approved') = 1;",
    )?;
    if let Some(high) = high {
        tx.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'users'",
            [high],
        )?;
        tx.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'users', ?1
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users')",
            [high],
        )?;
    }
    tx.commit()
}

/// Whether `customer_id` is bound to an account other than `user_id`.
fn linked_elsewhere(conn: &Connection, customer_id: &str, user_id: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT user_id FROM customer_links WHERE customer_id = ?1",
        [customer_id],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|holder| holder.is_some_and(|h| h != user_id))
}

fn users_where(conn: &Connection, condition: &str, value: &str) -> rusqlite::Result<Vec<User>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT data FROM users WHERE {condition} ORDER BY id"
    ))?;
    let rows = stmt.query_map([value], |r| r.get::<_, String>(0))?;
    rows.map(|data| decode_user(data?)).collect()
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Throttled(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn decode_user(data: String) -> rusqlite::Result<User> {
    serde_json::from_str(&data).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn encode_user(user: &User) -> String {
    serde_json::to_string(user).unwrap_or_default()
}

fn user_where(
    conn: &Connection,
    column: &str,
    value: &dyn rusqlite::ToSql,
) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        &format!("SELECT data FROM users WHERE {column} = ?1"),
        [value],
        |r| r.get::<_, String>(0),
    )
    .optional()?
    .map(decode_user)
    .transpose()
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, new: NewUser) -> Result<Result<User, Taken>, StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let taken = |column: &str, value: &str| -> rusqlite::Result<bool> {
                tx.query_row(&format!("SELECT 1 FROM users WHERE {column} = ?1"), [value], |_| Ok(()))
                    .optional()
                    .map(|o| o.is_some())
            };
            if taken("username_key", &unique_key(&new.username))? {
                return Ok(Err(Taken::Username));
            }
            if taken("email_key", &unique_key(&new.email))? {
                return Ok(Err(Taken::Email));
            }
            tx.execute(
                "INSERT INTO users (username_key, email_key, customer_id, data) VALUES (?1, ?2, ?3, '{}')",
                params![unique_key(&new.username), unique_key(&new.email), new.customer_id],
            )?;
            let user = new.into_user(tx.last_insert_rowid() as u64);
            if user.holds_customer_link() {
                if linked_elsewhere(&tx, &user.customer_id, user.id as i64)? {
                    return Ok(Err(Taken::CustomerId));
                }
                tx.execute(
                    "INSERT INTO customer_links (customer_id, user_id) VALUES (?1, ?2)",
                    params![user.customer_id, user.id as i64],
                )?;
            }
            tx.execute("UPDATE users SET data = ?1 WHERE id = ?2", params![encode_user(&user), user.id])?;
            tx.commit()?;
            Ok(Ok(user))
        })
        .await
    }

    async fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        self.with(move |c| user_where(c, "id", &(id as i64))).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let key = unique_key(username);
        self.with(move |c| user_where(c, "username_key", &key))
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let key = unique_key(email);
        self.with(move |c| user_where(c, "email_key", &key)).await
    }

    async fn user_by_customer_id(&self, customer_id: &str) -> Result<Option<User>, StoreError> {
        let id = customer_id.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT u.data FROM customer_links l JOIN users u ON u.id = l.user_id
                 WHERE l.customer_id = ?1",
                [id],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(decode_user)
            .transpose()
        })
        .await
    }

    async fn claimants(&self, customer_id: &str) -> Result<Vec<User>, StoreError> {
        let id = customer_id.to_string();
        self.with(move |c| {
            users_where(
                c,
                "customer_id = ?1 AND json_extract(data, '$.user_type') = 'CUSTOMER'",
                &id,
            )
        })
        .await
    }

    async fn staff_of_type(&self, user_type: UserType) -> Result<Vec<User>, StoreError> {
        let t = user_type.as_str().to_string();
        self.with(move |c| users_where(c, "json_extract(data, '$.user_type') = ?1", &t))
            .await
    }

    async fn update_user(&self, before: &User, after: &User) -> Result<Update, StoreError> {
        let (before, mut after) = (before.clone(), after.clone());
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(current) = user_where(&tx, "id", &(before.id as i64))? else {
                return Ok(Update::Stale);
            };
            if current.rev != before.rev {
                return Ok(Update::Stale);
            }
            let owner = |column: &str, value: &str| -> rusqlite::Result<Option<i64>> {
                tx.query_row(
                    &format!("SELECT id FROM users WHERE {column} = ?1"),
                    [value],
                    |r| r.get(0),
                )
                .optional()
            };
            let (username_key, email_key) = (unique_key(&after.username), unique_key(&after.email));
            if owner("username_key", &username_key)?.is_some_and(|id| id as u64 != after.id) {
                return Ok(Update::Taken(Taken::Username));
            }
            if owner("email_key", &email_key)?.is_some_and(|id| id as u64 != after.id) {
                return Ok(Update::Taken(Taken::Email));
            }
            // The customer link follows approval (and the customer id it is for).
            let id = after.id as i64;
            if before.holds_customer_link() {
                tx.execute("DELETE FROM customer_links WHERE user_id = ?1", [id])?;
            }
            if after.holds_customer_link() {
                if linked_elsewhere(&tx, &after.customer_id, id)? {
                    return Ok(Update::Taken(Taken::CustomerId));
                }
                tx.execute(
                    "INSERT OR REPLACE INTO customer_links (customer_id, user_id) VALUES (?1, ?2)",
                    params![after.customer_id, id],
                )?;
            }
            after.rev = before.rev + 1;
            tx.execute(
                "UPDATE users SET username_key = ?1, email_key = ?2, customer_id = ?3, data = ?4
                 WHERE id = ?5",
                params![
                    username_key,
                    email_key,
                    after.customer_id,
                    encode_user(&after),
                    id
                ],
            )?;
            tx.commit()?;
            Ok(Update::Done)
        })
        .await
    }

    async fn delete_user(&self, user: &User) -> Result<Update, StoreError> {
        let (id, rev) = (user.id as i64, user.rev);
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if user_where(&tx, "id", &id)?.is_none_or(|current| current.rev != rev) {
                return Ok(Update::Stale);
            }
            for table in [
                "refresh_tokens",
                "otps",
                "verifications",
                "customer_links",
                "users",
            ] {
                let column = if table == "users" { "id" } else { "user_id" };
                tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [id])?;
            }
            tx.commit()?;
            Ok(Update::Done)
        })
        .await
    }

    async fn migrate_users(&self) -> Result<usize, StoreError> {
        // Done when the file is opened (`migrate_customer_claims`).
        Ok(0)
    }
}

fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        account_number: r.get(0)?,
        customer_id: r.get(1)?,
        customer_name: r.get(2)?,
        balance: r.get(3)?,
        currency: r.get(4)?,
    })
}

const ACCOUNT_COLUMNS: &str = "account_number, customer_id, customer_name, balance, currency";

#[async_trait]
impl AccountStore for SqliteStore {
    async fn put_account(&self, a: &Account) -> Result<(), StoreError> {
        let a = a.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO accounts (account_number, customer_id, customer_name, balance, currency)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![a.account_number, a.customer_id, a.customer_name, a.balance, a.currency],
            )
            .map(drop)
        })
        .await
    }

    async fn put_loan(&self, account_number: &str, l: &Loan) -> Result<(), StoreError> {
        let (n, l) = (account_number.to_string(), l.clone());
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO loans (account_number, loan_id, disbursement_date, principal, outstanding_amount)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![n, l.loan_id, l.disbursement_date, l.principal, l.outstanding_amount],
            )
            .map(drop)
        })
        .await
    }

    async fn account_with_loans(
        &self,
        number: &str,
    ) -> Result<Option<AccountWithLoans>, StoreError> {
        let number = number.to_string();
        self.with(move |c| {
            let tx = c.transaction()?;
            let Some(account) = tx
                .query_row(
                    &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE account_number = ?1"),
                    [&number],
                    account_from_row,
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = tx.prepare_cached(
                "SELECT loan_id, disbursement_date, principal, outstanding_amount
                 FROM loans WHERE account_number = ?1 ORDER BY loan_id",
            )?;
            let loans = stmt
                .query_map([&number], |r| {
                    Ok(Loan {
                        loan_id: r.get(0)?,
                        disbursement_date: r.get(1)?,
                        principal: r.get(2)?,
                        outstanding_amount: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            tx.commit()?;
            Ok(Some(AccountWithLoans { account, loans }))
        })
        .await
    }

    async fn accounts_of_customer(&self, customer_id: &str) -> Result<Vec<Account>, StoreError> {
        let id = customer_id.to_string();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE customer_id = ?1 ORDER BY account_number"
            ))?;
            let rows = stmt.query_map([&id], account_from_row)?;
            rows.collect()
        })
        .await
    }
}

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

#[async_trait]
impl Counters for SqliteStore {
    async fn add(
        &self,
        function: &str,
        hour: i64,
        shard: u32,
        class: StatusClass,
    ) -> Result<(), StoreError> {
        let function = function.to_string();
        let column = class.attribute();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO counters (hour, function, shard, {column}) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (hour, function, shard) DO UPDATE SET {column} = {column} + 1"
            ))?
            .execute(params![hour, function, shard])
            .map(drop)
        })
        .await
    }

    async fn read_hours(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<CounterRow>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT function, hour, SUM(positive), SUM(negative), SUM(failed) FROM counters
                 WHERE hour BETWEEN ?1 AND ?2 GROUP BY function, hour ORDER BY function, hour",
            )?;
            let rows = stmt.query_map([from_hour, to_hour], |r| {
                Ok(CounterRow {
                    function: r.get(0)?,
                    hour: r.get(1)?,
                    positive: r.get::<_, i64>(2)? as u64,
                    negative: r.get::<_, i64>(3)? as u64,
                    failed: r.get::<_, i64>(4)? as u64,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn totals_by_function(&self) -> Result<BTreeMap<String, Tally>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT function, SUM(positive), SUM(negative), SUM(failed) FROM counters
                 GROUP BY function",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Tally {
                        positive: r.get::<_, i64>(1)? as u64,
                        negative: r.get::<_, i64>(2)? as u64,
                        failed: r.get::<_, i64>(3)? as u64,
                    },
                ))
            })?;
            rows.collect()
        })
        .await
    }
}

#[async_trait]
impl OtpStore for SqliteStore {
    async fn put_otp(&self, o: &OtpRecord) -> Result<(), StoreError> {
        let o = o.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO otps (user_id, attempt_id, code_hash, expires_at, tries_left)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![o.user_id as i64, o.attempt_id, o.code_hash, o.expires_at, o.tries_left],
            )
            .map(drop)
        })
        .await
    }

    async fn otp(&self, user_id: u64) -> Result<Option<OtpRecord>, StoreError> {
        self.with(move |c| {
            c.query_row(
                "SELECT attempt_id, code_hash, expires_at, tries_left FROM otps WHERE user_id = ?1",
                [user_id as i64],
                |r| {
                    Ok(OtpRecord {
                        user_id,
                        attempt_id: r.get(0)?,
                        code_hash: r.get(1)?,
                        expires_at: r.get(2)?,
                        tries_left: r.get(3)?,
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

    async fn spend_otp_try(&self, user_id: u64, attempt_id: &str) -> Result<bool, StoreError> {
        let attempt = attempt_id.to_string();
        self.with(move |c| {
            c.execute(
                "UPDATE otps SET tries_left = tries_left - 1
                 WHERE user_id = ?1 AND attempt_id = ?2 AND tries_left > 0",
                params![user_id as i64, attempt],
            )
            .map(|n| n == 1)
        })
        .await
    }
}

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
}

use crate::model::unique_key;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewUser;

    fn user(username: &str, customer_id: &str, approved: bool) -> NewUser {
        NewUser {
            username: username.into(),
            email: format!("{username}@example.com"),
            name: username.into(),
            phone: "+256700000001".into(),
            user_type: UserType::Customer,
            customer_id: customer_id.into(),
            gender: None,
            password_hash: "x".into(),
            is_verified: true,
            admin_approved: approved,
            created_at: 1,
        }
    }

    /// A database of the previous design (`customer_id` UNIQUE from registration on) opens with
    /// its users kept, the approved customer's id bound, and ids continuing where they were.
    #[tokio::test]
    async fn a_database_of_the_previous_design_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE users (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     username_key TEXT NOT NULL UNIQUE,
                     email_key TEXT NOT NULL UNIQUE,
                     customer_id TEXT NOT NULL UNIQUE,
                     data TEXT NOT NULL
                 );",
            )
            .unwrap();
            // User 3 existed and was deleted: its id must not be given again.
            old.execute_batch("INSERT INTO sqlite_sequence (name, seq) VALUES ('users', 3)")
                .unwrap();
            for (i, new) in [user("bound", "C1", true), user("pending", "C2", false)]
                .into_iter()
                .enumerate()
            {
                let u = new.into_user(i as u64 + 1);
                old.execute(
                    "INSERT INTO users (id, username_key, email_key, customer_id, data)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        u.id as i64,
                        u.username,
                        u.email,
                        u.customer_id,
                        encode_user(&u)
                    ],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(
            store.user_by_customer_id("C1").await.unwrap().unwrap().id,
            1
        );
        assert!(store.user_by_customer_id("C2").await.unwrap().is_none());
        // A second claim of the pending id is now allowed; the bound id stays one account's.
        let second = store
            .create_user(user("second", "C2", false))
            .await
            .unwrap();
        assert_eq!(
            second.unwrap().id,
            4,
            "the deleted user's id 3 is not given again"
        );
        assert_eq!(store.claimants("C2").await.unwrap().len(), 2);
        let squat = store.create_user(user("squat", "C1", true)).await.unwrap();
        assert_eq!(squat.unwrap_err(), Taken::CustomerId);
        // Opening again changes nothing.
        drop(store);
        let again = SqliteStore::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(again.claimants("C2").await.unwrap().len(), 2);
    }
}
