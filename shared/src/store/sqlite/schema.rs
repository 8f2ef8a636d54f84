//! The SQLite schema, created on open where missing, and the in-place migrations of databases
//! made by earlier versions (run on every open; each does nothing once done): customer ids as
//! claims, and username keys as confusable skeletons.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::model::username_key;
use crate::store::{Collision, Migration};

pub(super) const SCHEMA: &str = "
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
    tries_left INTEGER NOT NULL,
    open_tries_left INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS phone_codes (
    user_id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    tries_left INTEGER NOT NULL,
    open_tries_left INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    family TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    token_version INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    refreshed_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    source_ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    amr TEXT NOT NULL,
    aud TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS devices (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS devices_by_user ON devices (user_id);
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
CREATE TABLE IF NOT EXISTS published_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_set TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS migrations (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    hour INTEGER NOT NULL,
    function TEXT NOT NULL,
    shard INTEGER NOT NULL,
    positive INTEGER NOT NULL DEFAULT 0,
    negative INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, function, shard)
);
CREATE TABLE IF NOT EXISTS counts (
    hour INTEGER NOT NULL,
    part INTEGER NOT NULL,
    name TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    positive INTEGER NOT NULL DEFAULT 0,
    negative INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, part, name, bucket)
);
CREATE TABLE IF NOT EXISTS count_rollups (
    hour INTEGER PRIMARY KEY,
    figures TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS count_all_time (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through_hour INTEGER NOT NULL,
    figures TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS count_parts (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    parts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS count_losses (
    hour INTEGER PRIMARY KEY,
    lost INTEGER NOT NULL
);
";

/// Databases made before sign-in attempts had handles kept one budget per code: it becomes the
/// open budget (the one a client without the handle spends), and the handle's starts equal.
pub(super) fn migrate_otp_budgets(conn: &mut Connection) -> rusqlite::Result<()> {
    let has_column = conn
        .prepare("SELECT 1 FROM pragma_table_info('otps') WHERE name = 'open_tries_left'")?
        .exists([])?;
    if has_column {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "ALTER TABLE otps ADD COLUMN open_tries_left INTEGER NOT NULL DEFAULT 0;
         UPDATE otps SET open_tries_left = tries_left;",
    )?;
    tx.commit()
}

/// Databases made before customer ids became claims had `users.customer_id` UNIQUE, one account
/// per id from registration on. The table is rebuilt without that (in one transaction), and the
/// approved customers' ids become their links.
pub(super) fn migrate_customer_claims(conn: &mut Connection) -> rusqlite::Result<()> {
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

/// What the username keys of this file are: skeletons by the confusables of this Unicode
/// version. A file whose keys are of another kind (lower-cased names, from before skeletons, or
/// skeletons by other tables) is migrated when it is opened.
fn username_keys_version() -> String {
    let (major, minor, update) = unicode_security::UNICODE_VERSION;
    format!("uts39-skeleton {major}.{minor}.{update}")
}

/// Moves every username key to the skeleton of its username ([`username_key`]), in one
/// transaction: lowest id first, and where another account already holds a skeleton the row
/// keeps its key and the collision is reported (both accounts stay usable; nothing is lost).
/// Runs on open when the file's keys are of another kind, and whenever `always` is set.
pub(super) fn migrate_username_keys(
    conn: &mut Connection,
    always: bool,
) -> rusqlite::Result<Migration> {
    let version = username_keys_version();
    let done = |c: &Connection| -> rusqlite::Result<bool> {
        let recorded: Option<String> = c
            .query_row(
                "SELECT version FROM migrations WHERE name = 'username_keys'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(!always && recorded.as_deref() == Some(version.as_str()))
    };
    // Looked at before taking the write lock: every open of a migrated file passes here.
    if done(conn)? {
        return Ok(Migration::default());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if done(&tx)? {
        return Ok(Migration::default());
    }
    let rows: Vec<(i64, String, String)> = tx
        .prepare(
            "SELECT id, username_key, json_extract(data, '$.username') FROM users ORDER BY id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut report = Migration::default();
    for (id, key, username) in rows {
        let skeleton = username_key(&username);
        if key == skeleton {
            continue;
        }
        let holder: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, json_extract(data, '$.username') FROM users WHERE username_key = ?1",
                [&skeleton],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match holder {
            Some((holder_id, holder_username)) => report.collisions.push(Collision {
                user_id: id as u64,
                username,
                holder_id: holder_id as u64,
                holder_username,
            }),
            None => {
                tx.execute(
                    "UPDATE users SET username_key = ?1 WHERE id = ?2",
                    params![skeleton, id],
                )?;
                report.rewritten += 1;
            }
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO migrations (name, version) VALUES ('username_keys', ?1)",
        [&version],
    )?;
    tx.commit()?;
    for collision in &report.collisions {
        tracing::warn!(%collision, "username left under its previous key");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::params;

    use super::*;
    use crate::model::{NewUser, UserType};
    use crate::store::sqlite::users::encode_user;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Taken, UserStore};

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
    #[test]
    fn a_code_of_the_one_budget_design_keeps_its_tries_as_the_open_budget() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE otps (user_id INTEGER PRIMARY KEY, attempt_id TEXT NOT NULL,
             code_hash TEXT NOT NULL, expires_at INTEGER NOT NULL, tries_left INTEGER NOT NULL);
             INSERT INTO otps VALUES (3, 'a', 'h', 99, 4);",
        )
        .unwrap();
        migrate_otp_budgets(&mut conn).unwrap();
        migrate_otp_budgets(&mut conn).unwrap();
        let (tries, open): (u32, u32) = conn
            .query_row(
                "SELECT tries_left, open_tries_left FROM otps WHERE user_id = 3",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((tries, open), (4, 4));
    }

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
