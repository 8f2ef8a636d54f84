//! The data ports: one small trait per capability, each with a DynamoDB and an SQLite adapter
//! that behave the same (the contract suite in `tests/` runs on both).

pub mod dynamo;
pub mod sqlite;

/// The DynamoDB table definitions, kept at this path for the crates that create the tables.
pub use dynamo::schema;

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::latency::Histogram;
use crate::model::{Account, AccountWithLoans, Loan, NewUser, User, UserType};

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

/// The published token keys (public parts only; `keys.rs`): what verifiers and the key set
/// endpoint read, written by the operator's rotation steps.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn published_keys(&self) -> Result<Option<crate::keys::KeySet>, StoreError>;
    /// Replaces the published set by `set`'s public parts (private parts are never written).
    async fn publish_keys(&self, set: &crate::keys::KeySet) -> Result<(), StoreError>;
}

/// Users and the uniqueness of their username, e-mail and customer id.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user with the next id, claiming username and e-mail (and, for an approved
    /// customer, binding its customer id) in the same transaction: either all are written or none.
    ///
    /// A username is claimed under [`crate::model::username_key`], its confusable skeleton, and
    /// is taken when that key is, or when an account of the previous design (not yet migrated)
    /// holds the same lower-cased name.
    async fn create_user(&self, user: NewUser) -> Result<Result<User, Taken>, StoreError>;
    async fn user(&self, id: u64) -> Result<Option<User>, StoreError>;
    /// The account that holds `username`'s skeleton key: the name as typed, in any case, or a
    /// look-alike of it (one name, one account). Where an account keeps the previous key (not
    /// yet migrated, or left there by a collision the migration reported) and its lower-cased
    /// name is `username`'s, that account is the one answered.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// The account the bank customer id is bound to (see [`User::holds_customer_link`]), if any.
    async fn user_by_customer_id(&self, customer_id: &str) -> Result<Option<User>, StoreError>;
    /// Every customer account that claims `customer_id`, bound or not, by id.
    async fn claimants(&self, customer_id: &str) -> Result<Vec<User>, StoreError>;
    /// Every account of a role other than CUSTOMER (how the last active Fintract admin is kept).
    async fn staff_of_type(&self, user_type: UserType) -> Result<Vec<User>, StoreError>;
    /// Replaces `before` by `after` if nobody wrote the user since `before` was read (same `rev`),
    /// moving the username and e-mail claims, and binding or releasing the customer id as
    /// [`User::holds_customer_link`] changes, in the same transaction.
    async fn update_user(&self, before: &User, after: &User) -> Result<Update, StoreError>;
    /// Removes the user's tokens, codes and links first, then the user and its claims in one
    /// transaction, provided the user is still as `user` was read (same `rev`): `Stale` when it
    /// changed or is gone, so that nobody deletes on a stale decision (an account approved or
    /// verified meanwhile). A deletion that fails half-way can simply be run again.
    async fn delete_user(&self, user: &User) -> Result<Update, StoreError>;
    /// Brings user items written before the current layout up to it (the operator's
    /// `fintract-admin migrate`): index entries, customer-id claims, and username claims moved to
    /// skeleton keys, lowest user id first. Safe to run again. SQLite migrates on open too.
    async fn migrate_users(&self) -> Result<Migration, StoreError>;
}

/// What `migrate_users` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migration {
    /// Items rewritten (a moved username claim counts once).
    pub rewritten: usize,
    /// Accounts whose username claim stayed under its previous key because an account with a
    /// look-alike name holds the skeleton key. Both keep working (each is found by its own name);
    /// an operator decides whether one should be renamed.
    pub collisions: Vec<Collision>,
}

/// Two accounts whose usernames share a confusable skeleton.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collision {
    /// The account left under its previous key.
    pub user_id: u64,
    pub username: String,
    /// The account that holds the skeleton key.
    pub holder_id: u64,
    pub holder_username: String,
}

impl std::fmt::Display for Collision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "user {} {:?} looks like user {} {:?}: both kept, {:?} under its previous key",
            self.user_id, self.username, self.holder_id, self.holder_username, self.username
        )
    }
}

/// What became of `update_user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    Done,
    /// A new username or e-mail belongs to someone else.
    Taken(Taken),
    /// The user changed (or vanished) since it was read: read again and retry.
    Stale,
}

/// What a one-time code is for: a user has at most one of each kind at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpKind {
    /// The code of the latest login attempt.
    SignIn,
    /// The code sent to confirm the user's phone number.
    Phone,
}

/// A one-time code (of a login attempt, or confirming a phone number), stored as an HMAC, never
/// in clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpRecord {
    pub user_id: u64,
    pub kind: OtpKind,
    /// The attempt's handle: only the client that started the attempt has it.
    pub attempt_id: String,
    pub code_hash: String,
    pub expires_at: i64,
    /// Tries left to a client that presents the handle ([`OtpBudget::Handle`]).
    pub tries_left: u32,
    /// Tries left, all sources together, to clients that send only the id and the code
    /// ([`OtpBudget::Open`]).
    pub open_tries_left: u32,
}

/// Which of an attempt's two budgets a try is spent from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpBudget {
    /// Presented with the attempt's handle: nobody without it can spend these.
    Handle,
    /// Presented with the user id alone, as the published document has it.
    Open,
}

/// One-time codes: one per user and kind, replaced by each new one of that kind.
#[async_trait]
pub trait OtpStore: Send + Sync {
    /// Stores the code of a new attempt, voiding any earlier one of its kind.
    async fn put_otp(&self, otp: &OtpRecord) -> Result<(), StoreError>;
    async fn otp(&self, user_id: u64, kind: OtpKind) -> Result<Option<OtpRecord>, StoreError>;
    /// Deletes the code if it still belongs to `attempt_id`; true for exactly one caller.
    async fn take_otp(
        &self,
        user_id: u64,
        kind: OtpKind,
        attempt_id: &str,
    ) -> Result<bool, StoreError>;
    /// Spends one try of `budget` atomically if the code is still `attempt_id` and that budget
    /// has tries left.
    async fn spend_otp_try(
        &self,
        user_id: u64,
        kind: OtpKind,
        attempt_id: &str,
        budget: OtpBudget,
    ) -> Result<bool, StoreError>;
}

/// A device a user signed in from, known by a token only that device holds (stored by its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    pub token_hash: String,
    pub user_id: u64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Known devices: a sign-in from one is not held back by failures from elsewhere.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    async fn put_device(&self, device: &DeviceRecord) -> Result<(), StoreError>;
    async fn device(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError>;
}

/// A single-use e-mail verification link, stored by the hash of its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub token_hash: String,
    pub user_id: u64,
    pub email: String,
    pub expires_at: i64,
}

/// E-mail verification links.
#[async_trait]
pub trait VerificationStore: Send + Sync {
    async fn put_verification(&self, v: &Verification) -> Result<(), StoreError>;
    /// Removes and returns the link: of two concurrent uses, one gets it.
    async fn take_verification(&self, token_hash: &str)
        -> Result<Option<Verification>, StoreError>;
}

/// Fixed-window attempt counters for throttling.
#[async_trait]
pub trait Throttles: Send + Sync {
    /// Counts one attempt on `key` in the window starting at `window_start` (lasting
    /// `window_secs`) and returns the attempts so far in it, this one included. A window never
    /// starts after now: the SQLite adapter sweeps the windows that ended before it.
    async fn hit(&self, key: &str, window_start: i64, window_secs: i64) -> Result<u64, StoreError>;
    /// Takes back one attempt counted on `key` in the window starting at `window_start` (an
    /// attempt that turned out to be the account's owner); nothing when that window is gone.
    async fn refund(&self, key: &str, window_start: i64) -> Result<(), StoreError>;
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

/// A login family as its owner and admins see it (`GET /auth/sessions/`): one per sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The family id, which every token of the login carries in `fam`.
    pub family: String,
    pub user_id: u64,
    /// The user's token version at sign-in: a later version ended this session.
    pub token_version: u64,
    pub started_at: i64,
    pub refreshed_at: i64,
    /// The absolute end of the login, however often it is refreshed.
    pub ends_at: i64,
    pub source_ip: String,
    pub user_agent: String,
    /// How it was earned (RFC 8176: `pwd`, `otp`).
    pub amr: Vec<String>,
    /// The API it was made for (`dfcu`, `fintract`).
    pub aud: String,
}

/// Login families, for listing and ending them.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn put_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    async fn session(&self, family: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Every session recorded for the user, live or not (the caller filters).
    async fn sessions_of(&self, user_id: u64) -> Result<Vec<SessionRecord>, StoreError>;
    /// Records a rotation of the family's refresh token, the session's record to be kept until
    /// `keep_until` (its last refresh token's expiry); false (and nothing written) if there is no
    /// such session.
    async fn touch_session(
        &self,
        family: &str,
        refreshed_at: i64,
        keep_until: i64,
    ) -> Result<bool, StoreError>;
    /// Removes the session and revokes its family for rotation, together; the revocation is
    /// kept at least until `keep_until`.
    async fn end_session(&self, family: &str, now: i64, keep_until: i64) -> Result<(), StoreError>;
}

/// Refresh tokens, rotated with re-use detection.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Records a freshly issued refresh token (the first of a new family, at login).
    async fn put_refresh(&self, record: &RefreshRecord) -> Result<(), StoreError>;
    /// Spends `old_jti` and records `new` in one conditional write: of two concurrent rotations of
    /// one token, exactly one sees `Rotated`. A token expired at `now` is `Unknown`.
    async fn rotate_refresh(
        &self,
        old_jti: &str,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<Rotation, StoreError>;
}

/// How a response counts on the dashboard (ARCHITECTURE.md §7).
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

/// Counts by status class; the requests are their sum (ARCHITECTURE.md §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    #[serde(rename = "p", default)]
    pub positive: u64,
    #[serde(rename = "n", default)]
    pub negative: u64,
    #[serde(rename = "f", default)]
    pub failed: u64,
}

impl Tally {
    /// Number of Requests: every counted response, whatever its class.
    pub fn requests(&self) -> u64 {
        self.positive + self.negative + self.failed
    }

    /// One response of `class`.
    pub fn one(class: StatusClass) -> Self {
        let mut t = Tally::default();
        match class {
            StatusClass::Positive => t.positive = 1,
            StatusClass::Negative => t.negative = 1,
            StatusClass::Failed => t.failed = 1,
        }
        t
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.positive += other.positive;
        self.negative += other.negative;
        self.failed += other.failed;
    }
}

/// What was counted under one name over some hours: answers by class, and their handler
/// durations as a histogram (which misses the answers counted before durations were).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    #[serde(flatten)]
    pub tally: Tally,
    #[serde(rename = "h", default)]
    pub latency: Histogram,
}

impl Figures {
    /// Adds `tally` answers whose durations fell in `bucket` (`None`: counted without one).
    pub fn add(&mut self, bucket: Option<u16>, tally: Tally) {
        self.tally += tally;
        if let Some(bucket) = bucket {
            self.latency.add(bucket, tally.requests());
        }
    }

    pub fn merge(&mut self, other: &Figures) {
        self.tally += other.tally;
        self.latency.merge(&other.latency);
    }
}

/// Figures by counted name: an endpoint's `<function> <METHOD> <path>`, or, for counts of the
/// earlier layout, a function's name.
pub type ByFunction = BTreeMap<String, Figures>;

/// Adds every function's figures of `other` into `into`.
pub fn merge_functions(into: &mut ByFunction, other: &ByFunction) {
    for (function, figures) in other {
        into.entry(function.clone()).or_default().merge(figures);
    }
}

/// The all-time roll-up: everything counted in the hours up to and including `through_hour`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AllTime {
    pub through_hour: i64,
    pub functions: ByFunction,
}

/// What [`Counters::rollups`] reads in one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollups {
    /// The hourly roll-ups of the range asked for that exist.
    pub hours: BTreeMap<i64, ByFunction>,
    pub all_time: Option<AllTime>,
    /// The most parts any counting process has noted it spreads an hour over (0: none yet).
    pub parts: u32,
}

/// The most parts an hour is ever read in: a target of 10 million requests a second. A stored
/// value above it is data gone wrong, and is not allowed to turn a report into millions of reads.
pub const MAX_PARTS: u32 = 20_000;

/// Request counters (ARCHITECTURE.md §7): per hour, spread over `parts` partitions, per counted
/// name (an endpoint) and duration bucket; hourly and all-time roll-ups; and the counts that
/// could not be kept.
#[async_trait]
pub trait Counters: Send + Sync {
    /// Adds one answer of `class` whose handler took a duration in `bucket` to part `part` of
    /// `hour`, under `name` (an endpoint's counter key): one atomic add, no read.
    async fn add(
        &self,
        name: &str,
        hour: i64,
        part: u32,
        bucket: u16,
        class: StatusClass,
    ) -> Result<(), StoreError>;
    /// Everything counted in `hour`: parts `0..parts` summed, with the counters of the layout
    /// before parts and durations (one partition a day, no durations).
    async fn read_hour(&self, hour: i64, parts: u32) -> Result<ByFunction, StoreError>;
    /// The hourly roll-ups of `from_hour..=to_hour` that exist, the all-time one if any, and the
    /// parts noted: one request (on DynamoDB it reads every roll-up from `from_hour` on, so it
    /// is for the recent window).
    async fn rollups(&self, from_hour: i64, to_hour: i64) -> Result<Rollups, StoreError>;
    /// Only the hourly roll-ups of `from_hour..=to_hour` that exist.
    async fn hour_rollups(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<BTreeMap<i64, ByFunction>, StoreError>;
    /// Notes that a counting process spreads each hour over `parts` parts (kept as the most
    /// ever noted), so that readers read every part written even after the target is lowered.
    async fn note_parts(&self, parts: u32) -> Result<(), StoreError>;
    /// Keeps `figures` as `hour`'s roll-up, unless it has one (made from the same counts).
    async fn put_rollup(&self, hour: i64, figures: &ByFunction) -> Result<(), StoreError>;
    /// Replaces the all-time roll-up by `next` if it still stands through `prev` (`None`: there
    /// is none yet); `false` if another reader moved it first.
    async fn advance_all_time(&self, prev: Option<i64>, next: &AllTime)
        -> Result<bool, StoreError>;
    /// Everything ever counted in hours up to `through_hour`, in either layout. Reads the whole
    /// counter table (on DynamoDB in parallel segments): done once, to start the all-time roll-up.
    async fn sum_through(&self, through_hour: i64) -> Result<ByFunction, StoreError>;
    /// Records a count of `hour` that could not be kept, somewhere other than the counter table
    /// (whose failure lost it): the main table on DynamoDB, a table of its own on SQLite.
    async fn record_loss(&self, hour: i64, part: u32) -> Result<(), StoreError>;
    /// The counts lost per hour, for every hour that lost any.
    async fn losses(&self) -> Result<BTreeMap<i64, u64>, StoreError>;
}

/// Everything the functions read and write.
pub trait DataStore:
    UserStore
    + AccountStore
    + TokenStore
    + Counters
    + OtpStore
    + VerificationStore
    + Throttles
    + KeyStore
    + DeviceStore
    + SessionStore
{
}
impl<T> DataStore for T where
    T: UserStore
        + AccountStore
        + TokenStore
        + Counters
        + OtpStore
        + VerificationStore
        + Throttles
        + KeyStore
        + DeviceStore
        + SessionStore
{
}
