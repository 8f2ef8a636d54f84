//! Sign-in that strangers cannot disrupt (ARCHITECTURE.md §6): the password attempts on an
//! account share one budget across the three sign-in paths (`POST /token/`, `POST /auth/login/`
//! and the dashboard's), with a daily bound; a device the account signed in from before (OWASP's
//! device cookies, as a token for an API) is held to a budget of its own instead, so failures
//! from elsewhere never lock its owner out. A right password takes its attempt back: only
//! failures use up a budget.

use crate::error::{ApiError, ApiResult};
use crate::model::User;
use crate::security::Event;
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
/// How often a sign-in from an unknown device is mailed, at most, per account and source.
pub const NEW_DEVICE_NOTICE_SECS: i64 = 86_400;
/// The longest device token read (ours are 32 hex digits).
pub const MAX_DEVICE_TOKEN: usize = 64;

/// Wrong passwords per login (session) before re-authentication answers 429: per window of 15
/// minutes, and per day.
pub const REAUTH_ATTEMPTS: u64 = 10;
pub const REAUTH_ATTEMPTS_PER_DAY: u64 = 30;
/// What a wrong `current_password` is told.
pub const WRONG_PASSWORD: &str = "This is not your current password.";

/// The 400 naming `current_password`, with `message`.
pub fn password_refusal(message: &str) -> ApiError {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("current_password".to_string(), message.to_string());
    ApiError::invalid_fields(fields)
}

/// The attempts counted for one password check: taken back when the password was right.
#[must_use]
pub struct PasswordAttempt {
    counted: Vec<Counted>,
    known_device: bool,
}

impl PasswordAttempt {
    /// Whether the attempt presented a known device of the account it named.
    pub fn known_device(&self) -> bool {
        self.known_device
    }
}

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
        let known_device = matches!((user, &device), (Some(u), Some(d)) if self.is_known(d, u));
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
        Ok(PasswordAttempt {
            counted: counted.to_vec(),
            known_device,
        })
    }

    /// Spends one try of `scope`'s re-authentication budget of the caller's login (`claims`'
    /// session; the account when the token names none): [`REAUTH_ATTEMPTS`] per window and
    /// [`REAUTH_ATTEMPTS_PER_DAY`], then 429. Refund the tries once the secret was right.
    pub async fn reauth_budget(
        &self,
        scope: &str,
        caller: &User,
        claims: &crate::jwt::Claims,
    ) -> ApiResult<Vec<Counted>> {
        let login = claims
            .fam
            .clone()
            .unwrap_or_else(|| format!("user:{}", caller.id));
        let counted = self
            .count_window_and_day(
                scope,
                &login,
                REAUTH_ATTEMPTS,
                WINDOW_SECS,
                REAUTH_ATTEMPTS_PER_DAY,
            )
            .await?;
        Ok(counted.to_vec())
    }

    /// Checks the signed-in caller's own password, `presented` in `current_password` (whoever
    /// the target of the request is: the person acting re-authenticates), or answers 400 naming
    /// that field. Wrong passwords spend a budget of the caller's login (`claims`' session), so
    /// a stolen access token is no way to guess the password, and cannot lock the owner's
    /// sign-in out either.
    pub async fn reauthenticate(
        &self,
        caller: &User,
        claims: &crate::jwt::Claims,
        presented: String,
    ) -> ApiResult<()> {
        let counted = self.reauth_budget("reauth", caller, claims).await?;
        if !crate::password::verify(presented, Some(caller.password_hash.clone())).await {
            return Err(password_refusal(WRONG_PASSWORD));
        }
        for c in &counted {
            self.refund(c).await;
        }
        Ok(())
    }

    /// The password of `attempt` was right: its attempts are taken back.
    pub async fn password_was_right(&self, attempt: PasswordAttempt) {
        for counted in &attempt.counted {
            self.refund(counted).await;
        }
    }

    /// The device token to answer a successful sign-in of `user` by `req` with: the one
    /// presented if it is still a known device of that user, else a new one, and then the
    /// account is told of a sign-in from a new device (`how` names the path, `shared::security`).
    /// `None` (logged) if a new one could not be stored, which fails no sign-in. `known` is
    /// whether the presented token is known, when the caller has looked it up already
    /// ([`PasswordAttempt::known_device`]).
    pub async fn device_token(
        &self,
        req: &crate::Request,
        presented: Option<&str>,
        known: Option<bool>,
        user: &User,
        how: &str,
    ) -> Option<String> {
        let known = match known {
            Some(known) => known,
            None => match self.device_record(presented).await {
                Ok(Some(known)) => self.is_known(&known, user),
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(user_id = user.id, error = ?e, "device not looked up");
                    false
                }
            },
        };
        if known {
            return presented.map(str::to_string);
        }
        // Once a day per account, source address and user agent: a client that never keeps its
        // device token (a DFCU integration calling `/token/`) is not mailed on every call, while a
        // sign-in from anywhere else, or from another program behind the same address (an
        // office's or a carrier's NAT), still is. The agent is hashed: it is the client's text.
        let source = crate::http::source_ip(req).unwrap_or_default();
        let agent = crate::sessions::Origin::of(req).user_agent;
        let agent = &crate::crypto::sha256_hex(&agent)[..16];
        let key = format!("user:{}:{source}:{agent}", user.id);
        if self
            .throttle("device-notice", &key, 1, NEW_DEVICE_NOTICE_SECS)
            .await
            .is_ok()
        {
            self.security_notice(req, &user.email, Event::NewDevice { how })
                .await;
        }
        match self.new_device_token(user).await {
            Ok(token) => Some(token),
            Err(e) => {
                tracing::warn!(user_id = user.id, error = ?e, "device token not issued");
                None
            }
        }
    }

    async fn new_device_token(&self, user: &User) -> ApiResult<String> {
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
