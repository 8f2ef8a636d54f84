//! One-time login codes: six digits from the OS CSPRNG, stored as an HMAC under a key of their own
//! (`OTP_KEY`; six digits are too few to survive an offline guess at a plain hash), compared in
//! constant time, single use, bound to the latest login attempt.
//!
//! Each attempt has a handle, returned to the client that started it, and two budgets of tries
//! (ARCHITECTURE.md §6): [`MAX_TRIES`] for the client that presents the handle, which nobody
//! without it can spend; and, for clients that follow the published document and send only the
//! user id and the code, [`OPEN_TRIES`] in all and [`OPEN_TRIES_PER_SOURCE`] per source address.
//! A code is thus guessed at most `MAX_TRIES + OPEN_TRIES` times.

use hmac::Mac;
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::store::{OtpBudget, OtpKind, OtpRecord};
use crate::Ctx;

/// Tries of the client that presents the attempt's handle.
pub const MAX_TRIES: u32 = 5;

/// Tries, all sources together, of clients without the handle: the residual risk for them is
/// that strangers spend these, after which they must ask for a new code.
pub const OPEN_TRIES: u32 = 10;

/// Tries per source address of clients without the handle, per attempt.
pub const OPEN_TRIES_PER_SOURCE: u64 = 3;

/// Wrong codes from an authenticator app (or recovery codes) per account, across its login
/// attempts: per window, and per UTC day. A right one takes its try back. So a guesser who knows
/// the password has 30 tries a day against about 3 live codes in a million.
pub const APP_CODE_TRIES: u64 = 10;
pub const APP_CODE_WINDOW_SECS: i64 = 900;
pub const APP_CODE_TRIES_PER_DAY: u64 = 30;

/// The one answer to every code that does not sign the user in.
pub const INVALID_CODE: &str = "Invalid or expired code.";

/// What an attempt to be redeemed with the authenticator app stores in place of a code's hash
/// (never a hash: those are 64 hex digits).
const AUTHENTICATOR_ATTEMPT: &str = "authenticator";

/// The same for an attempt started from a known device that signed in with the app before,
/// followed by its token's hash: its wrong codes spend that device's budget, not the account's.
const APP_DEVICE_ATTEMPT: &str = "authenticator:device:";

/// What signed a login attempt in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// The code mailed or texted for the attempt.
    SentCode,
    /// The authenticator app's code, or a recovery code.
    Authenticator(crate::authenticator::Accepted),
}

/// A uniformly random six-digit code.
pub fn generate_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

fn code_hash(secret: &[u8], user_id: u64, attempt_id: &str, code: &str) -> String {
    let mut mac = crate::crypto::hmac(secret);
    mac.update(format!("otp:{user_id}:{attempt_id}:{code}").as_bytes());
    crate::crypto::hex(&mac.finalize().into_bytes())
}

/// What a phone code's hash is bound to besides the user and the code: the number, and a label
/// no sign-in attempt id has (those are 32 hex digits), so neither kind of code passes for the
/// other.
fn phone_context(phone: &str, attempt_id: &str) -> String {
    format!("phone:{phone}:{attempt_id}")
}

impl Ctx {
    /// The code key: only the functions that issue or redeem codes hold it.
    pub(crate) fn otp_key(&self) -> ApiResult<&[u8]> {
        self.config
            .otp_key
            .as_deref()
            .ok_or_else(|| ApiError::internal("this function holds no OTP_KEY"))
    }

    /// A fresh code for a new login attempt; the record replaces any earlier attempt's.
    pub fn new_otp(&self, user_id: u64) -> ApiResult<(OtpRecord, String)> {
        let code = generate_code();
        let attempt_id = crate::jwt::random_id();
        let record = OtpRecord {
            user_id,
            kind: OtpKind::SignIn,
            code_hash: code_hash(self.otp_key()?, user_id, &attempt_id, &code),
            attempt_id,
            expires_at: self.now() + self.config.otp_ttl.as_secs() as i64,
            tries_left: MAX_TRIES,
            open_tries_left: OPEN_TRIES,
        };
        Ok((record, code))
    }

    /// A new login attempt to be redeemed with the authenticator app (or a recovery code): no
    /// code is sent, and only the client holding the attempt's handle (who gave the password)
    /// may try: no open budget, so whoever holds a recovery code or the app's secret but not the
    /// password cannot redeem someone else's attempt. `app_device` is the token hash of the known
    /// device it was started from, when that device signed in with the app before
    /// ([`crate::model::Authenticator::app_devices`]).
    pub fn new_authenticator_attempt(&self, user_id: u64, app_device: Option<&str>) -> OtpRecord {
        OtpRecord {
            user_id,
            kind: OtpKind::SignIn,
            code_hash: match app_device {
                Some(hash) => format!("{APP_DEVICE_ATTEMPT}{hash}"),
                None => AUTHENTICATOR_ATTEMPT.into(),
            },
            attempt_id: crate::jwt::random_id(),
            expires_at: self.now() + self.config.otp_ttl.as_secs() as i64,
            tries_left: MAX_TRIES,
            open_tries_left: 0,
        }
    }

    /// A fresh code confirming that `phone` is `user_id`'s: bound to that number (a code sent to
    /// an earlier number confirms nothing), [`MAX_TRIES`] tries, only by the signed-in user.
    pub fn new_phone_code(&self, user_id: u64, phone: &str) -> ApiResult<(OtpRecord, String)> {
        let code = generate_code();
        let attempt_id = crate::jwt::random_id();
        let record = OtpRecord {
            user_id,
            kind: OtpKind::Phone,
            code_hash: code_hash(
                self.otp_key()?,
                user_id,
                &phone_context(phone, &attempt_id),
                &code,
            ),
            attempt_id,
            expires_at: self.now() + self.config.otp_ttl.as_secs() as i64,
            tries_left: MAX_TRIES,
            open_tries_left: 0,
        };
        Ok((record, code))
    }

    /// Whether `code` confirms `phone` for `user_id`; true once per code. Every call spends a try.
    pub async fn redeem_phone_code(
        &self,
        user_id: u64,
        phone: &str,
        code: &str,
    ) -> ApiResult<bool> {
        let key = self.otp_key()?;
        let kind = OtpKind::Phone;
        let Some(otp) = self.store.otp(user_id, kind).await? else {
            return Ok(false);
        };
        if otp.expires_at <= self.now() || otp.tries_left == 0 {
            self.store.take_otp(user_id, kind, &otp.attempt_id).await?;
            return Ok(false);
        }
        if !self
            .store
            .spend_otp_try(user_id, kind, &otp.attempt_id, OtpBudget::Handle)
            .await?
        {
            return Ok(false);
        }
        let presented = code_hash(key, user_id, &phone_context(phone, &otp.attempt_id), code);
        Ok(
            bool::from(presented.as_bytes().ct_eq(otp.code_hash.as_bytes()))
                && self.store.take_otp(user_id, kind, &otp.attempt_id).await?,
        )
    }

    /// Accepts `code` for `user_id`'s latest login attempt once, or answers 401. With the
    /// attempt's `handle`, a try is spent from the handle's budget (a wrong handle spends nothing
    /// and never signs in); without it, from the open budget, and from `source`'s share of it
    /// when there is a source. An attempt begun for the authenticator app takes a code from the
    /// app or a recovery code, and nothing else.
    pub async fn redeem_otp(
        &self,
        user_id: u64,
        code: &str,
        handle: Option<&str>,
        source: Option<&str>,
    ) -> ApiResult<Redeemed> {
        let key = self.otp_key()?;
        let invalid = || ApiError::unauthorized(INVALID_CODE);
        let kind = OtpKind::SignIn;
        let Some(otp) = self.store.otp(user_id, kind).await? else {
            return Err(invalid());
        };
        if otp.expires_at <= self.now() || (otp.tries_left == 0 && otp.open_tries_left == 0) {
            self.store.take_otp(user_id, kind, &otp.attempt_id).await?;
            return Err(invalid());
        }
        let budget = match handle {
            Some(h) => {
                if !bool::from(h.as_bytes().ct_eq(otp.attempt_id.as_bytes())) {
                    return Err(invalid());
                }
                OtpBudget::Handle
            }
            None => {
                if let Some(ip) = source {
                    // One window per attempt, from the code's issue to its expiry (a window that
                    // starts in the past, as every throttle window does).
                    let ttl = self.config.otp_ttl.as_secs() as i64;
                    let key = format!("otp-open:{}:{ip}", otp.attempt_id);
                    let hits = self.store.hit(&key, otp.expires_at - ttl, ttl).await?;
                    if hits > OPEN_TRIES_PER_SOURCE {
                        return Err(invalid());
                    }
                }
                OtpBudget::Open
            }
        };
        // Reserve a try before comparing, so parallel guesses cannot share one read of the count.
        if !self
            .store
            .spend_otp_try(user_id, kind, &otp.attempt_id, budget)
            .await?
        {
            return Err(invalid());
        }
        let app_budget = match otp.code_hash.strip_prefix(APP_DEVICE_ATTEMPT) {
            Some(device) => Some(format!("device:{device}")),
            None => (otp.code_hash == AUTHENTICATOR_ATTEMPT).then(|| format!("user:{user_id}")),
        };
        if let Some(budget) = app_budget {
            // Codes from an app are guessed across attempts too: a budget per account, of which
            // only the password's holder (with the handle) can spend anything; or, from a known
            // device that signed in with the app before, that device's own, so that someone who
            // has only the password cannot hold the owner back (as for passwords, `signin.rs`).
            // Devices earn it only through the app: a password alone mints device tokens freely.
            let counted = self
                .count_window_and_day(
                    "authenticator-codes",
                    &budget,
                    APP_CODE_TRIES,
                    APP_CODE_WINDOW_SECS,
                    APP_CODE_TRIES_PER_DAY,
                )
                .await?;
            let accepted = self.redeem_authenticator(user_id, code, invalid).await?;
            for c in &counted {
                self.refund(c).await;
            }
            return match self.store.take_otp(user_id, kind, &otp.attempt_id).await? {
                true => Ok(Redeemed::Authenticator(accepted)),
                false => Err(invalid()),
            };
        }
        let presented = code_hash(key, user_id, &otp.attempt_id, code);
        if bool::from(presented.as_bytes().ct_eq(otp.code_hash.as_bytes())) {
            // Only the caller whose delete succeeds is signed in: a code works once.
            if self.store.take_otp(user_id, kind, &otp.attempt_id).await? {
                return Ok(Redeemed::SentCode);
            }
        }
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let c = generate_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn the_hash_depends_on_secret_user_attempt_and_code() {
        let h = code_hash(b"k", 1, "a", "123456");
        assert_eq!(h, code_hash(b"k", 1, "a", "123456"));
        assert_ne!(h, code_hash(b"k2", 1, "a", "123456"));
        assert_ne!(h, code_hash(b"k", 2, "a", "123456"));
        assert_ne!(h, code_hash(b"k", 1, "b", "123456"));
        assert_ne!(h, code_hash(b"k", 1, "a", "123457"));
        assert!(!h.contains("123456"));
    }
}
