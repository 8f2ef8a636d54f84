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
/// Password attempts per known device and window.
pub const DEVICE_ATTEMPTS: u64 = 10;
/// How long a device stays known after the sign-in that made it so.
pub const DEVICE_TTL_SECS: i64 = 90 * 86_400;
/// The longest device token read (ours are 32 hex digits).
pub const MAX_DEVICE_TOKEN: usize = 64;

/// The attempts counted for one password check: taken back when the password was right.
#[must_use]
pub struct PasswordAttempt(Vec<Counted>);

impl Ctx {
    /// The device record `token` names, if it is a live known device of `user_id`.
    async fn known_device(
        &self,
        token: Option<&str>,
        user_id: u64,
    ) -> ApiResult<Option<DeviceRecord>> {
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= MAX_DEVICE_TOKEN) else {
            return Ok(None);
        };
        let found = self.store.device(&crate::crypto::sha256_hex(token)).await?;
        Ok(found.filter(|d| d.user_id == user_id && d.expires_at > self.now()))
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
        if let Some(user) = user {
            if let Some(known) = self.known_device(device, user.id).await? {
                let counted = self
                    .count(
                        "signin-device",
                        &known.token_hash,
                        DEVICE_ATTEMPTS,
                        WINDOW_SECS,
                    )
                    .await?;
                return Ok(PasswordAttempt(vec![counted]));
            }
        }
        let account = match user {
            Some(u) => format!("user:{}", u.id),
            None => format!("name:{identifier}"),
        };
        let window = self
            .count("signin", &account, ACCOUNT_ATTEMPTS, WINDOW_SECS)
            .await?;
        let day = match self
            .count("signin-day", &account, ACCOUNT_ATTEMPTS_PER_DAY, 86_400)
            .await
        {
            Ok(day) => day,
            Err(e) => {
                self.refund(&window).await;
                return Err(e);
            }
        };
        Ok(PasswordAttempt(vec![window, day]))
    }

    /// The password of `attempt` was right: its attempts are taken back.
    pub async fn password_was_right(&self, attempt: PasswordAttempt) {
        for counted in &attempt.0 {
            self.refund(counted).await;
        }
    }

    /// The device token to answer a successful sign-in of `user_id` with: the one presented if it
    /// is still a known device of that user, else a new one.
    pub async fn device_token(&self, presented: Option<&str>, user_id: u64) -> ApiResult<String> {
        if let Some(token) = presented {
            if self.known_device(Some(token), user_id).await?.is_some() {
                return Ok(token.to_string());
            }
        }
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
