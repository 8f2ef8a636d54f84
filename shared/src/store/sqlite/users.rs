//! [`UserStore`] on SQLite: the `users` table with its unique username (skeleton) and e-mail
//! keys, and `customer_links`, which binds a bank customer id to the one account approved for
//! it. A row may keep a username key of the previous design (lower-cased only) where the
//! migration found its skeleton taken (`schema::migrate_username_keys`).

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::schema::migrate_username_keys;
use super::SqliteStore;
use crate::model::{unique_key, username_key, NewUser, User, UserType};
use crate::store::{Migration, StoreError, Taken, Update, UserStore};

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
    users_in(conn, condition, [value])
}

fn users_in(
    conn: &Connection,
    condition: &str,
    values: impl rusqlite::Params,
) -> rusqlite::Result<Vec<User>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT data FROM users WHERE {condition} ORDER BY id"
    ))?;
    let rows = stmt.query_map(values, |r| r.get::<_, String>(0))?;
    rows.map(|data| decode_user(data?)).collect()
}

fn decode_user(data: String) -> rusqlite::Result<User> {
    serde_json::from_str(&data).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(super) fn encode_user(user: &User) -> String {
    serde_json::to_string(user).unwrap_or_default()
}

/// Whether a username key is held by an account other than `user_id` (`None`: a new one): its
/// skeleton key, or the previous key of an account with the same lower-cased name.
fn username_held(
    conn: &Connection,
    username: &str,
    user_id: Option<i64>,
) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare("SELECT id FROM users WHERE username_key IN (?1, ?2)")?;
    let holders = stmt.query_map(params![username_key(username), unique_key(username)], |r| {
        r.get::<_, i64>(0)
    })?;
    for holder in holders {
        if Some(holder?) != user_id {
            return Ok(true);
        }
    }
    Ok(false)
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
            if username_held(&tx, &new.username, None)? {
                return Ok(Err(Taken::Username));
            }
            if taken("email_key", &unique_key(&new.email))? {
                return Ok(Err(Taken::Email));
            }
            tx.execute(
                "INSERT INTO users (username_key, email_key, customer_id, data) VALUES (?1, ?2, ?3, '{}')",
                params![username_key(&new.username), unique_key(&new.email), new.customer_id],
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
        let (skeleton, typed) = (username_key(username), unique_key(username));
        self.with(move |c| {
            let found = users_in(c, "username_key IN (?1, ?2)", params![skeleton, typed])?;
            // The account of exactly this name first (a collision left two), else the look-alike.
            let exact = found.iter().position(|u| unique_key(&u.username) == typed);
            Ok(found.into_iter().nth(exact.unwrap_or(0)))
        })
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
            // A new name takes its skeleton key; an unchanged one keeps the key it has (which
            // may be the previous design's, where the migration found the skeleton taken).
            let renamed = unique_key(&before.username) != unique_key(&after.username);
            let new_username_key = renamed.then(|| username_key(&after.username));
            if renamed && username_held(&tx, &after.username, Some(after.id as i64))? {
                return Ok(Update::Taken(Taken::Username));
            }
            let email_key = unique_key(&after.email);
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
                "UPDATE users SET username_key = COALESCE(?1, username_key), email_key = ?2,
                 customer_id = ?3, data = ?4 WHERE id = ?5",
                params![
                    new_username_key,
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
                "phone_codes",
                "devices",
                "sessions",
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

    async fn migrate_users(&self) -> Result<Migration, StoreError> {
        // Done when the file is opened; run again, it reports the collisions it left.
        self.with(|conn| migrate_username_keys(conn, true)).await
    }
}
