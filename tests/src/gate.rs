//! `PairedReads`: the real store of a test app behind a gate that lets a user read
//! (`UserStore::user`) or an account read (`AccountStore::account_with_loans`) through only once
//! the other one is in flight too. A handler that makes the two reads one after the other waits
//! alone, and its read fails after `patience`; one that makes them concurrently passes. Every
//! other call goes straight to the store. It also records which reads were made.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use shared::model::{Account, AccountWithLoans, Loan, NewUser, User, UserType};
use shared::store::{
    AccountStore, AllTime, ByFunction, Counters, DataStore, DeviceRecord, DeviceStore, Migration,
    OtpBudget, OtpKind, OtpRecord, OtpStore, RefreshRecord, Rollups, Rotation, SessionRecord,
    SessionStore, StatusClass, StoreError, Taken, Throttles, TokenStore, Update, UserStore,
    Verification, VerificationStore,
};

pub struct PairedReads {
    inner: Arc<dyn DataStore>,
    both_in_flight: tokio::sync::Barrier,
    patience: Duration,
    reads: Mutex<Vec<&'static str>>,
}

impl PairedReads {
    pub fn new(inner: Arc<dyn DataStore>, patience: Duration) -> Self {
        PairedReads {
            inner,
            both_in_flight: tokio::sync::Barrier::new(2),
            patience,
            reads: Mutex::new(Vec::new()),
        }
    }

    /// The gated reads made so far, in the order they started.
    pub fn reads(&self) -> Vec<&'static str> {
        self.reads.lock().unwrap().clone()
    }

    async fn pass(&self, read: &'static str) -> Result<(), StoreError> {
        self.reads.lock().unwrap().push(read);
        match tokio::time::timeout(self.patience, self.both_in_flight.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => Err(StoreError::Unavailable(format!(
                "{read} waited {:?} alone: the user and account reads were not concurrent",
                self.patience
            ))),
        }
    }
}

#[async_trait]
impl UserStore for PairedReads {
    async fn create_user(&self, user: NewUser) -> Result<Result<User, Taken>, StoreError> {
        self.inner.create_user(user).await
    }
    async fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        self.pass("user").await?;
        self.inner.user(id).await
    }
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_username(username).await
    }
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_email(email).await
    }
    async fn user_by_customer_id(&self, customer_id: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_customer_id(customer_id).await
    }
    async fn claimants(&self, customer_id: &str) -> Result<Vec<User>, StoreError> {
        self.inner.claimants(customer_id).await
    }
    async fn staff_of_type(&self, user_type: UserType) -> Result<Vec<User>, StoreError> {
        self.inner.staff_of_type(user_type).await
    }
    async fn update_user(&self, before: &User, after: &User) -> Result<Update, StoreError> {
        self.inner.update_user(before, after).await
    }
    async fn delete_user(&self, user: &User) -> Result<Update, StoreError> {
        self.inner.delete_user(user).await
    }
    async fn migrate_users(&self) -> Result<Migration, StoreError> {
        self.inner.migrate_users().await
    }
}

#[async_trait]
impl AccountStore for PairedReads {
    async fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        self.inner.put_account(account).await
    }
    async fn put_loan(&self, account_number: &str, loan: &Loan) -> Result<(), StoreError> {
        self.inner.put_loan(account_number, loan).await
    }
    async fn account_with_loans(
        &self,
        number: &str,
    ) -> Result<Option<AccountWithLoans>, StoreError> {
        self.pass("account").await?;
        self.inner.account_with_loans(number).await
    }
    async fn accounts_of_customer(&self, customer_id: &str) -> Result<Vec<Account>, StoreError> {
        self.inner.accounts_of_customer(customer_id).await
    }
}

#[async_trait]
impl TokenStore for PairedReads {
    async fn put_refresh(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        self.inner.put_refresh(record).await
    }
    async fn rotate_refresh(
        &self,
        old_jti: &str,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        self.inner.rotate_refresh(old_jti, new, now).await
    }
}

#[async_trait]
impl Counters for PairedReads {
    async fn add(
        &self,
        function: &str,
        hour: i64,
        part: u32,
        bucket: u16,
        class: StatusClass,
    ) -> Result<(), StoreError> {
        self.inner.add(function, hour, part, bucket, class).await
    }
    async fn read_hour(&self, hour: i64, parts: u32) -> Result<ByFunction, StoreError> {
        self.inner.read_hour(hour, parts).await
    }
    async fn rollups(&self, from_hour: i64, to_hour: i64) -> Result<Rollups, StoreError> {
        self.inner.rollups(from_hour, to_hour).await
    }
    async fn hour_rollups(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<BTreeMap<i64, ByFunction>, StoreError> {
        self.inner.hour_rollups(from_hour, to_hour).await
    }
    async fn note_parts(&self, parts: u32) -> Result<(), StoreError> {
        self.inner.note_parts(parts).await
    }
    async fn put_rollup(&self, hour: i64, figures: &ByFunction) -> Result<(), StoreError> {
        self.inner.put_rollup(hour, figures).await
    }
    async fn advance_all_time(
        &self,
        prev: Option<i64>,
        next: &AllTime,
    ) -> Result<bool, StoreError> {
        self.inner.advance_all_time(prev, next).await
    }
    async fn sum_through(&self, through_hour: i64) -> Result<ByFunction, StoreError> {
        self.inner.sum_through(through_hour).await
    }
    async fn record_loss(&self, hour: i64, part: u32) -> Result<(), StoreError> {
        self.inner.record_loss(hour, part).await
    }
    async fn losses(&self) -> Result<BTreeMap<i64, u64>, StoreError> {
        self.inner.losses().await
    }
}

#[async_trait]
impl shared::store::KeyStore for PairedReads {
    async fn published_keys(&self) -> Result<Option<shared::keys::KeySet>, StoreError> {
        self.inner.published_keys().await
    }
    async fn publish_keys(&self, set: &shared::keys::KeySet) -> Result<(), StoreError> {
        self.inner.publish_keys(set).await
    }
}

#[async_trait]
impl OtpStore for PairedReads {
    async fn put_otp(&self, otp: &OtpRecord) -> Result<(), StoreError> {
        self.inner.put_otp(otp).await
    }
    async fn otp(&self, user_id: u64, kind: OtpKind) -> Result<Option<OtpRecord>, StoreError> {
        self.inner.otp(user_id, kind).await
    }
    async fn take_otp(
        &self,
        user_id: u64,
        kind: OtpKind,
        attempt_id: &str,
    ) -> Result<bool, StoreError> {
        self.inner.take_otp(user_id, kind, attempt_id).await
    }
    async fn spend_otp_try(
        &self,
        user_id: u64,
        kind: OtpKind,
        attempt_id: &str,
        budget: OtpBudget,
    ) -> Result<bool, StoreError> {
        self.inner
            .spend_otp_try(user_id, kind, attempt_id, budget)
            .await
    }
}

#[async_trait]
impl SessionStore for PairedReads {
    async fn put_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.inner.put_session(session).await
    }
    async fn session(&self, family: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.session(family).await
    }
    async fn sessions_of(&self, user_id: u64) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.sessions_of(user_id).await
    }
    async fn touch_session(
        &self,
        family: &str,
        refreshed_at: i64,
        keep_until: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .touch_session(family, refreshed_at, keep_until)
            .await
    }
    async fn end_session(&self, family: &str, now: i64, keep_until: i64) -> Result<(), StoreError> {
        self.inner.end_session(family, now, keep_until).await
    }
}

#[async_trait]
impl DeviceStore for PairedReads {
    async fn put_device(&self, device: &DeviceRecord) -> Result<(), StoreError> {
        self.inner.put_device(device).await
    }
    async fn device(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.inner.device(token_hash).await
    }
}

#[async_trait]
impl VerificationStore for PairedReads {
    async fn put_verification(&self, v: &Verification) -> Result<(), StoreError> {
        self.inner.put_verification(v).await
    }
    async fn take_verification(
        &self,
        token_hash: &str,
    ) -> Result<Option<Verification>, StoreError> {
        self.inner.take_verification(token_hash).await
    }
}

#[async_trait]
impl Throttles for PairedReads {
    async fn hit(&self, key: &str, window_start: i64, window_secs: i64) -> Result<u64, StoreError> {
        self.inner.hit(key, window_start, window_secs).await
    }
    async fn refund(&self, key: &str, window_start: i64) -> Result<(), StoreError> {
        self.inner.refund(key, window_start).await
    }
}
