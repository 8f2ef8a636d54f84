//! Authenticator apps (ARCHITECTURE.md §6): TOTP codes (RFC 6238: SHA-1, 6 digits, 30-second
//! steps, one step of clock skew either way) through the `totp-rs` crate, the enrolment's
//! `otpauth://` URI and its QR code as inline SVG (the `qrcode` crate), and ten single-use
//! recovery codes.
//!
//! - The secret (160 random bits) is stored sealed: AES-256-GCM from `aws-lc-rs` (already linked
//!   for TLS and the token signatures) under a key derived from `OTP_KEY`, with the user id as
//!   associated data, so a copy of the store alone yields no secret and a sealed secret moved to
//!   another account opens nowhere.
//! - A code is accepted only for a time step later than the last one accepted, judged inside the
//!   conditional write of the user (`modify_user`): of two uses of one code, one wins.
//! - Recovery codes are shown once and kept as HMACs under `OTP_KEY`; each is removed in the
//!   write that accepts it.
//! - Once an authenticator is on, sign-in codes by e-mail or SMS sign the account in no more: a
//!   login names `otpType: Totp` and redeems a code from the app or a recovery code.

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;
use hmac::Mac;
use rand::{Rng, RngCore};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::error::{ApiError, ApiResult};
use crate::model::{Authenticator, PendingAuthenticator, User};
use crate::Ctx;

/// Seconds per time step, digits per code, steps of skew accepted either way.
pub const STEP_SECS: u64 = 30;
pub const DIGITS: usize = 6;
pub const SKEW: u8 = 1;
/// Recovery codes handed out when an authenticator is turned on.
pub const RECOVERY_CODES: usize = 10;
/// How long an enrolment waits for its first code, and how many tries that code gets.
pub const ENROLMENT_TTL_SECS: i64 = 600;
pub const ENROLMENT_TRIES: u32 = 5;
/// The name apps show above the account.
pub const ISSUER: &str = "Fintract";

/// The letters of a recovery code: no 0/o, 1/l/i, so that a person copies it right.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Letters per recovery code (two groups of five: 49 bits).
const RECOVERY_LETTERS: usize = 10;

/// What an enrolment shows the user: the secret, as text, as a URI and as a QR code.
pub struct Enrolment {
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
}

/// What a presented code turned out to be, when it signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A current code from the app.
    Code,
    /// A recovery code; `left` remain.
    Recovery { left: usize },
}

/// Whether `code` looks like a code from an app (six digits).
pub fn is_app_code(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// A recovery code as compared: lower case, without the dash or spaces a person may type.
fn normalize_recovery(code: &str) -> Option<String> {
    let letters: String = code
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (letters.len() == RECOVERY_LETTERS && letters.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(letters)
}

/// Whether `code` looks like a recovery code (`xxxxx-xxxxx`, any case, dash optional).
pub fn is_recovery_code(code: &str) -> bool {
    normalize_recovery(code).is_some()
}

/// Ten fresh recovery codes, as shown to the user.
fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let letters: String = (0..RECOVERY_LETTERS)
                .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &letters[..5], &letters[5..])
        })
        .collect()
}

/// The TOTP generator of `secret`, labelled with `account` in apps.
fn generator(secret: Vec<u8>, account: &str) -> ApiResult<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        SKEW,
        STEP_SECS,
        secret,
        Some(ISSUER.into()),
        account.replace(':', "_"),
    )
    .map_err(|e| ApiError::internal(format!("TOTP parameters: {e:?}")))
}

/// The latest time step within the skew around `now` whose code is `code`, if any.
fn matching_step(totp: &TOTP, code: &str, now: i64) -> Option<u64> {
    let now = u64::try_from(now).ok()?;
    let current = now / STEP_SECS;
    let skew = u64::from(SKEW);
    let mut found = None;
    for step in current.saturating_sub(skew)..=current + skew {
        let expected = totp.generate(step * STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// An SVG drawing of `text` as a QR code, for an `<img>` or inline.
fn qr_svg(text: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| ApiError::internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

impl Ctx {
    /// The sealing key of authenticator secrets, derived from the code key.
    fn sealing_key(&self) -> ApiResult<RandomizedNonceKey> {
        let mut mac = crate::crypto::hmac(self.otp_key()?);
        mac.update(b"authenticator-seal");
        RandomizedNonceKey::new(&AES_256_GCM, &mac.finalize().into_bytes())
            .map_err(|_| ApiError::internal("the authenticator sealing key"))
    }

    fn seal(&self, user_id: u64, secret: &[u8]) -> ApiResult<String> {
        let mut sealed = secret.to_vec();
        let nonce = self
            .sealing_key()?
            .seal_in_place_append_tag(Aad::from(user_id.to_be_bytes()), &mut sealed)
            .map_err(|_| ApiError::internal("sealing an authenticator secret"))?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&sealed);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    fn unseal(&self, user_id: u64, sealed: &str) -> ApiResult<Vec<u8>> {
        let corrupt = || ApiError::internal("an authenticator secret does not open");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| corrupt())?;
        if bytes.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut rest = rest.to_vec();
        let secret = self
            .sealing_key()?
            .open_in_place(nonce, Aad::from(user_id.to_be_bytes()), &mut rest)
            .map_err(|_| corrupt())?;
        Ok(secret.to_vec())
    }

    fn recovery_hash(&self, user_id: u64, normalized: &str) -> ApiResult<String> {
        let mut mac = crate::crypto::hmac(self.otp_key()?);
        mac.update(format!("recovery:{user_id}:{normalized}").as_bytes());
        Ok(crate::crypto::hex(&mac.finalize().into_bytes()))
    }

    /// A new enrolment for `user`: the pending record to store on the user, and what to show.
    pub fn begin_enrolment(&self, user: &User) -> ApiResult<(PendingAuthenticator, Enrolment)> {
        let mut secret = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let pending = PendingAuthenticator {
            secret: self.seal(user.id, &secret)?,
            expires_at: self.now() + ENROLMENT_TTL_SECS,
            tries_left: ENROLMENT_TRIES,
        };
        let totp = generator(secret, &user.email)?;
        let uri = totp.get_url();
        let enrolment = Enrolment {
            secret: totp.get_secret_base32(),
            qr_svg: qr_svg(&uri)?,
            uri,
        };
        Ok((pending, enrolment))
    }

    /// The time step `code` belongs to if it is a current code of the sealed `secret` of
    /// `user_id` and later than `after`.
    pub fn app_code_step(
        &self,
        user_id: u64,
        secret: &str,
        code: &str,
        after: Option<u64>,
    ) -> ApiResult<Option<u64>> {
        if !is_app_code(code) {
            return Ok(None);
        }
        let totp = generator(self.unseal(user_id, secret)?, "")?;
        Ok(matching_step(&totp, code, self.now()).filter(|s| after.is_none_or(|a| *s > a)))
    }

    /// Turns `pending` on for `user_id` with the first code's `step`: the authenticator record,
    /// and the recovery codes to show once.
    pub fn turn_on(
        &self,
        user_id: u64,
        pending: &PendingAuthenticator,
        step: u64,
    ) -> ApiResult<(Authenticator, Vec<String>)> {
        let (recovery_codes, shown) = self.new_recovery_set(user_id)?;
        let on = Authenticator {
            secret: pending.secret.clone(),
            since: self.now(),
            last_step: step,
            recovery_codes,
            app_devices: Vec::new(),
        };
        Ok((on, shown))
    }

    /// Ten new recovery codes for `user_id`: their hashes to store, and the codes to show once.
    pub fn new_recovery_set(&self, user_id: u64) -> ApiResult<(Vec<String>, Vec<String>)> {
        let shown = new_recovery_codes();
        let hashes = shown
            .iter()
            .map(|c| {
                let normalized = normalize_recovery(c)
                    .ok_or_else(|| ApiError::internal("a recovery code of the wrong shape"))?;
                self.recovery_hash(user_id, &normalized)
            })
            .collect::<ApiResult<_>>()?;
        Ok((hashes, shown))
    }

    /// Spends `code` on `user`'s authenticator, to be written back in the same conditional
    /// write (`modify_user`): a current code from the app, later than the last one accepted,
    /// moves the last step on; an unused recovery code is removed. `None` when it is neither, or
    /// the account has no authenticator.
    pub fn spend_code(&self, user: &mut User, code: &str) -> ApiResult<Option<Accepted>> {
        let user_id = user.id;
        let Some(on) = user.authenticator.as_mut() else {
            return Ok(None);
        };
        if let Some(normalized) = normalize_recovery(code) {
            let hash = self.recovery_hash(user_id, &normalized)?;
            let Some(at) = on
                .recovery_codes
                .iter()
                .position(|h| bool::from(h.as_bytes().ct_eq(hash.as_bytes())))
            else {
                return Ok(None);
            };
            on.recovery_codes.remove(at);
            let left = on.recovery_codes.len();
            return Ok(Some(Accepted::Recovery { left }));
        }
        let Some(step) = self.app_code_step(user_id, &on.secret, code, Some(on.last_step))? else {
            return Ok(None);
        };
        on.last_step = step;
        Ok(Some(Accepted::Code))
    }

    /// Accepts `code` for user `user_id` once ([`Ctx::spend_code`]), judged and recorded in one
    /// conditional write of the user; `invalid` otherwise.
    pub async fn redeem_authenticator(
        &self,
        user_id: u64,
        code: &str,
        invalid: fn() -> ApiError,
    ) -> ApiResult<Accepted> {
        let mut accepted = Accepted::Code;
        self.modify_user(user_id, |user| {
            accepted = self.spend_code(user, code)?.ok_or_else(invalid)?;
            Ok(())
        })
        .await?;
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Ctx {
        fn for_unit_tests() -> Ctx {
            let config = crate::config::Config::embedded(":memory:", vec![7; 32]);
            Ctx::embedded(config).unwrap()
        }
    }

    #[test]
    fn codes_match_rfc_6238_and_only_within_the_skew() {
        // RFC 6238 appendix B, SHA-1, truncated to six digits.
        let secret = b"12345678901234567890".to_vec();
        let totp = generator(secret, "a@example.com").unwrap();
        assert_eq!(totp.generate(59), "287082");
        assert_eq!(totp.generate(1_111_111_109), "081804");
        assert_eq!(
            matching_step(&totp, "081804", 1_111_111_109),
            Some(37_037_036)
        );
        // One step later and one earlier still match; two do not.
        assert_eq!(
            matching_step(&totp, "081804", 1_111_111_109 + 30),
            Some(37_037_036)
        );
        assert_eq!(matching_step(&totp, "081804", 1_111_111_109 + 61), None);
        assert_eq!(matching_step(&totp, "081804", 1_111_111_109 - 60), None);
        assert_eq!(matching_step(&totp, "000000", 1_111_111_109), None);
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_read_forgivingly() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for c in &codes {
            assert!(is_recovery_code(c), "{c}");
            assert!(is_recovery_code(&c.to_uppercase().replace('-', " ")));
            assert!(!is_app_code(c));
        }
        assert!(!is_recovery_code("abcde-fghi0"));
        assert!(!is_recovery_code("123456"));
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let ctx = Ctx::for_unit_tests();
        let sealed = ctx.seal(7, b"twenty bytes secret!").unwrap();
        assert_eq!(ctx.unseal(7, &sealed).unwrap(), b"twenty bytes secret!");
        assert!(ctx.unseal(8, &sealed).is_err());
        assert!(!sealed.contains("twenty"));
        let mut other = Ctx::for_unit_tests();
        other.config.otp_key = Some(b"another key".to_vec());
        assert!(other.unseal(7, &sealed).is_err());
    }

    #[test]
    fn the_enrolment_qr_code_is_an_svg_of_the_uri() {
        let ctx = Ctx::for_unit_tests();
        let user =
            crate::model::NewUser::sample("qr", crate::model::UserType::Customer).into_user(3);
        let (pending, shown) = ctx.begin_enrolment(&user).unwrap();
        assert!(
            shown.uri.starts_with("otpauth://totp/Fintract:"),
            "{}",
            shown.uri
        );
        assert!(shown.uri.contains(&format!("secret={}", shown.secret)));
        assert!(shown.qr_svg.starts_with("<?xml") && shown.qr_svg.contains("<svg"));
        assert_eq!(ctx.unseal(3, &pending.secret).unwrap().len(), 20);
    }
}
