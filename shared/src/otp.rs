//! One-time login codes: six digits from the OS CSPRNG, stored as an HMAC under a key of their own
//! (`OTP_KEY`; six digits are too few to survive an offline guess at a plain hash), compared in
//! constant time, five tries, single use, bound to the latest login attempt.

use hmac::Mac;
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::store::OtpRecord;
use crate::Ctx;

/// Wrong tries before a code is burned.
pub const MAX_TRIES: u32 = 5;

/// The one answer to every code that does not sign the user in.
pub const INVALID_CODE: &str = "Invalid or expired code.";

/// A uniformly random six-digit code.
pub fn generate_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

fn code_hash(secret: &[u8], user_id: u64, attempt_id: &str, code: &str) -> String {
    let mut mac = crate::crypto::hmac(secret);
    mac.update(format!("otp:{user_id}:{attempt_id}:{code}").as_bytes());
    crate::crypto::hex(&mac.finalize().into_bytes())
}

impl Ctx {
    /// The code key: only the functions that issue or redeem codes hold it.
    fn otp_key(&self) -> ApiResult<&[u8]> {
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
            code_hash: code_hash(self.otp_key()?, user_id, &attempt_id, &code),
            attempt_id,
            expires_at: self.now() + self.config.otp_ttl.as_secs() as i64,
            tries_left: MAX_TRIES,
        };
        Ok((record, code))
    }

    /// Accepts `code` for `user_id` once, or answers 401. Every attempt spends one of the five tries.
    pub async fn redeem_otp(&self, user_id: u64, code: &str) -> ApiResult<()> {
        let key = self.otp_key()?;
        let invalid = || ApiError::unauthorized(INVALID_CODE);
        let Some(otp) = self.store.otp(user_id).await? else {
            return Err(invalid());
        };
        if otp.expires_at <= self.now() || otp.tries_left == 0 {
            self.store.take_otp(user_id, &otp.attempt_id).await?;
            return Err(invalid());
        }
        // Reserve a try before comparing, so parallel guesses cannot share one read of the count.
        if !self.store.spend_otp_try(user_id, &otp.attempt_id).await? {
            return Err(invalid());
        }
        let presented = code_hash(key, user_id, &otp.attempt_id, code);
        if bool::from(presented.as_bytes().ct_eq(otp.code_hash.as_bytes())) {
            // Only the caller whose delete succeeds is signed in: a code works once.
            if self.store.take_otp(user_id, &otp.attempt_id).await? {
                return Ok(());
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
