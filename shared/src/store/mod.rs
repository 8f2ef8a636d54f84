//! The data ports: one small trait per capability, each with a DynamoDB and an SQLite adapter
//! that behave the same (the contract suite in `tests/` runs on both).

pub mod dynamo;
pub mod schema;
pub mod sqlite;

use async_trait::async_trait;

use crate::model::{Account, AccountWithLoans, Loan, NewUser, User};

/// A failure of the backend itself. Expected outcomes (not found, taken) are values, not errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend asked us to slow down (DynamoDB throughput, SQLite busy past its timeout).
    #[error("backend throttled: {0}")]
    Throttled(String),
    /// The backend could not be reached or failed.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// Stored data that does not decode: a bug or a bad import, never the client's fault.
    #[error("corrupt item: {0}")]
    Corrupt(String),
}

/// Which unique value a new or changed user collides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    Username,
    Email,
    CustomerId,
}

impl Taken {
    pub fn field(self) -> &'static str {
        match self {
            Taken::Username => "username",
            Taken::Email => "email",
            Taken::CustomerId => "customer_id",
        }
    }
}

/// Users and the uniqueness of their username, e-mail and customer id.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user with the next id, claiming username, e-mail and customer id in the same
    /// transaction: either all are written or none.
    async fn create_user(&self, user: NewUser) -> Result<Result<User, Taken>, StoreError>;
    async fn user(&self, id: u64) -> Result<Option<User>, StoreError>;
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
}

/// Bank accounts and their loans.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates or replaces an account (imports are idempotent).
    async fn put_account(&self, account: &Account) -> Result<(), StoreError>;
    /// Creates or replaces a loan on an account.
    async fn put_loan(&self, account_number: &str, loan: &Loan) -> Result<(), StoreError>;
    /// The account and every loan on it, in one read.
    async fn account_with_loans(
        &self,
        number: &str,
    ) -> Result<Option<AccountWithLoans>, StoreError>;
    /// Every account of a customer, ordered by number.
    async fn accounts_of_customer(&self, customer_id: &str) -> Result<Vec<Account>, StoreError>;
}

/// A refresh token as stored: its state decides whether it may be rotated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRecord {
    pub jti: String,
    pub user_id: u64,
    pub family: String,
    pub expires_at: i64,
}

/// What became of an attempt to rotate a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now spent and the new one is live.
    Rotated,
    /// The old token had been spent already (or its family revoked): the family is now revoked.
    Reused,
    /// No such live token (never issued, expired, or its user's tokens were purged).
    Unknown,
}

/// Refresh tokens, rotated with re-use detection.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Records a freshly issued refresh token (the first of a new family, at login).
    async fn put_refresh(&self, record: &RefreshRecord) -> Result<(), StoreError>;
    /// Spends `old_jti` and records `new` in one conditional write: of two concurrent rotations of
    /// one token, exactly one sees `Rotated`.
    async fn rotate_refresh(
        &self,
        old_jti: &str,
        new: &RefreshRecord,
    ) -> Result<Rotation, StoreError>;
}

/// How a response counts on the dashboard (DESIGN.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    Positive,
    Negative,
    Failed,
}

impl StatusClass {
    /// 2xx, 4xx, 5xx; anything else is not an API outcome and is not counted.
    pub fn of(status: u16) -> Option<Self> {
        match status {
            200..=299 => Some(Self::Positive),
            400..=499 => Some(Self::Negative),
            500..=599 => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn attribute(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Negative => "negative",
            Self::Failed => "failed",
        }
    }
}

/// One function's counts in one hour, summed over shards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterRow {
    pub function: String,
    pub hour: i64,
    pub positive: u64,
    pub negative: u64,
    pub failed: u64,
}

/// Request counters, per function and hour, sharded.
#[async_trait]
pub trait Counters: Send + Sync {
    /// Adds one to `class` of (`function`, `hour`, `shard`) atomically.
    async fn add(
        &self,
        function: &str,
        hour: i64,
        shard: u32,
        class: StatusClass,
    ) -> Result<(), StoreError>;
    /// Every (function, hour) row with `from_hour <= hour <= to_hour`, shards summed.
    async fn read_hours(&self, from_hour: i64, to_hour: i64)
        -> Result<Vec<CounterRow>, StoreError>;
}

/// Sums rows of the same (function, hour): shards fold into one row.
pub fn sum_rows(rows: impl IntoIterator<Item = CounterRow>) -> Vec<CounterRow> {
    let mut map: std::collections::BTreeMap<(String, i64), CounterRow> = Default::default();
    for r in rows {
        let e = map
            .entry((r.function.clone(), r.hour))
            .or_insert_with(|| CounterRow {
                function: r.function.clone(),
                hour: r.hour,
                ..Default::default()
            });
        e.positive += r.positive;
        e.negative += r.negative;
        e.failed += r.failed;
    }
    map.into_values().collect()
}

/// Everything the functions read and write.
pub trait DataStore: UserStore + AccountStore + TokenStore + Counters {}
impl<T: UserStore + AccountStore + TokenStore + Counters> DataStore for T {}
