//! Sign-in that strangers cannot disrupt (ARCHITECTURE.md §6): the password attempts on an
//! account share one budget across the three sign-in paths (`POST /token/`, `POST /auth/login/`
//! and the dashboard's), with a daily bound; a device the account signed in from before (OWASP's
//! device cookies, as a token for an API) is held to a budget of its own instead, so failures
//! from elsewhere never lock its owner out. A right password takes its attempt back: only
//! failures use up a budget.

use crate::error::{ApiError, ApiResult};
use crate::model::User;
use crate::store::DeviceRecord;
use crate::throttle::Counted;
use crate::Ctx;

/// Password attempts per account from unknown sources, all paths together, per window.
pub const ACCOUNT_ATTEMPTS: u64 = 10;
/// The window of [`ACCOUNT_ATTEMPTS`] and [`DEVICE_ATTEMPTS`].
pub const WINDOW_SECS: i64 = 900;
/// Password attempts per account from unknown sources per UTC day.
pub const ACCOUNT_ATTEMPTS_PER_DAY: u64 = 30;
/// Password attempts per known device and window, and per day.
pub const DEVICE_ATTEMPTS: u64 = 10;
pub const DEVICE_ATTEMPTS_PER_DAY: u64 = 30;
/// How long a device stays known after the sign-in that made it so.
pub const DEVICE_TTL_SECS: i64 = 90 * 86_400;
/// The longest device token read (ours are 32 hex digits).
pub const MAX_DEVICE_TOKEN: usize = 64;

/// The attempts counted for one password check: taken back when the password was right.
#[must_use]
pub struct PasswordAttempt(Vec<Counted>);

impl Ctx {
    /// The device record `token` names, if any (looked up whether or not the account exists,
    /// so that the time taken says nothing of it).
    async fn device_record(&self, token: Option<&str>) -> ApiResult<Option<DeviceRecord>> {
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= MAX_DEVICE_TOKEN) else {
            return Ok(None);
        };
        Ok(self.store.device(&crate::crypto::sha256_hex(token)).await?)
    }

    /// Whether `device` is a live known device of `user`: its own, unexpired, and made known
    /// since the user last ended every session.
    fn is_known(&self, device: &DeviceRecord, user: &User) -> bool {
        device.user_id == user.id
            && device.expires_at > self.now()
            && device.created_at > user.devices_since
    }

    /// Counts a password attempt on `user` (or, for an identifier no account has, on
    /// `identifier`): on the device's own budget when `device` is a known device of that user,
    /// else on the account's budget shared by every sign-in path, and its daily bound. 429 with
    /// `Retry-After` when the budget is spent.
    pub async fn count_password_attempt(
        &self,
        user: Option<&User>,
        identifier: &str,
        device: Option<&str>,
    ) -> ApiResult<PasswordAttempt> {
        let device = self.device_record(device).await?;
        let (scope, key, per_window, per_day) = match (user, device) {
            (Some(user), Some(known)) if self.is_known(&known, user) => (
                "signin-device",
                known.token_hash,
                DEVICE_ATTEMPTS,
                DEVICE_ATTEMPTS_PER_DAY,
            ),
            (Some(user), _) => (
                "signin",
                format!("user:{}", user.id),
                ACCOUNT_ATTEMPTS,
                ACCOUNT_ATTEMPTS_PER_DAY,
            ),
            (None, _) => (
                "signin",
                format!("name:{identifier}"),
                ACCOUNT_ATTEMPTS,
                ACCOUNT_ATTEMPTS_PER_DAY,
            ),
        };
        let counted = self
            .count_window_and_day(scope, &key, per_window, WINDOW_SECS, per_day)
            .await?;
        Ok(PasswordAttempt(counted.to_vec()))
    }

    /// The password of `attempt` was right: its attempts are taken back.
    pub async fn password_was_right(&self, attempt: PasswordAttempt) {
        for counted in &attempt.0 {
            self.refund(counted).await;
        }
    }

    /// The device token to answer a successful sign-in of `user` with: the one presented if it
    /// is still a known device of that user, else a new one; `None` (logged) if a new one could
    /// not be stored, which fails no sign-in.
    pub async fn device_token(&self, presented: Option<&str>, user: &User) -> Option<String> {
        match self.issue_device_token(presented, user).await {
            Ok(token) => Some(token),
            Err(e) => {
                tracing::warn!(user_id = user.id, error = ?e, "device token not issued");
                None
            }
        }
    }

    async fn issue_device_token(&self, presented: Option<&str>, user: &User) -> ApiResult<String> {
        if let (Some(token), Some(known)) = (presented, self.device_record(presented).await?) {
            if self.is_known(&known, user) {
                return Ok(token.to_string());
            }
        }
        let user_id = user.id;
        let token = crate::jwt::random_id();
        let now = self.now();
        self.store
            .put_device(&DeviceRecord {
                token_hash: crate::crypto::sha256_hex(&token),
                user_id,
                created_at: now,
                expires_at: now + DEVICE_TTL_SECS,
            })
            .await
            .map_err(ApiError::from)?;
        Ok(token)
    }
}
