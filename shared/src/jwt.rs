//! HS256 JSON Web Tokens, written out rather than taken from a general JWT crate so that exactly
//! one algorithm is accepted: `alg` must be `HS256`, and `none` or anything else is refused before
//! a signature is even looked at.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::crypto::HmacSha256;

/// Which of the pair a token is; one is never accepted where the other is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of both token types (ARCHITECTURE.md §6); `fam` names a refresh token's login family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub token_type: TokenType,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub ver: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
    /// How the sign-in behind this token was made (RFC 8176): `pwd`, then `otp` for the code.
    /// Kept through refresh. Tokens from before it was recorded count as `pwd` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The API the sign-in was made for: `dfcu` (the password grant) or `fintract` (the code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// How a sign-in was earned: what its tokens' `amr` and `aud` say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Earned {
    /// `POST /token/`: username and password (DFCU).
    Password,
    /// `POST /auth/login/` then `/auth/login/{id}/`: password and the one-time code (Fintract).
    PasswordAndCode,
}

/// The `aud` of DFCU tokens and of Fintract tokens.
pub const AUD_DFCU: &str = "dfcu";
pub const AUD_FINTRACT: &str = "fintract";

impl Earned {
    pub fn amr(self) -> Vec<String> {
        match self {
            Earned::Password => vec!["pwd".into()],
            Earned::PasswordAndCode => vec!["pwd".into(), "otp".into()],
        }
    }

    pub fn aud(self) -> &'static str {
        match self {
            Earned::Password => AUD_DFCU,
            Earned::PasswordAndCode => AUD_FINTRACT,
        }
    }
}

impl Claims {
    /// The user id in `sub`.
    pub fn user_id(&self) -> Option<u64> {
        self.sub.parse().ok()
    }

    /// Whether the sign-in behind this token included the one-time code.
    pub fn with_code(&self) -> bool {
        self.amr.iter().any(|m| m == "otp")
    }

    /// Whether `aud` names one of our two APIs (absent on tokens from before it was recorded).
    pub fn for_our_apis(&self) -> bool {
        self.aud
            .as_deref()
            .is_none_or(|a| a == AUD_DFCU || a == AUD_FINTRACT)
    }
}

/// Why a token was refused; every variant answers the same 401 to the client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not accepted")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("expired")]
    Expired,
    #[error("wrong token type")]
    WrongType,
}

/// The signing key.
#[derive(Clone)]
pub struct JwtKeys {
    secret: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

/// The longest token we will even try to parse.
const MAX_TOKEN_LEN: usize = 4096;

impl JwtKeys {
    pub fn new(secret: Vec<u8>) -> Self {
        JwtKeys { secret }
    }

    fn mac(&self) -> HmacSha256 {
        crate::crypto::hmac(&self.secret)
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Checks algorithm, signature (in constant time), expiry at `now` and type.
    pub fn verify(&self, token: &str, expected: TokenType, now: i64) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Header = decode_json(h)?;
        if header.alg != "HS256"
            || header
                .typ
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
        {
            return Err(JwtError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| JwtError::Signature)?;
        let claims: Claims = decode_json(p)?;
        if claims.exp <= now {
            return Err(JwtError::Expired);
        }
        if claims.token_type != expected {
            return Err(JwtError::WrongType);
        }
        Ok(claims)
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// A random identifier of 128 bits in hex, for `jti` and login families.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    crate::crypto::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    fn claims(token_type: TokenType, exp: i64) -> Claims {
        Claims {
            sub: "7".into(),
            token_type,
            jti: random_id(),
            iat: 1000,
            exp,
            ver: 0,
            fam: None,
            amr: vec![],
            aud: None,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips_its_claims() {
        let c = claims(TokenType::Access, 2000);
        let t = keys().sign(&c);
        assert_eq!(keys().verify(&t, TokenType::Access, 1500).unwrap(), c);
    }

    #[test]
    fn expired_tokens_and_wrong_types_are_refused() {
        let t = keys().sign(&claims(TokenType::Access, 2000));
        assert_eq!(
            keys().verify(&t, TokenType::Access, 2000),
            Err(JwtError::Expired)
        );
        assert_eq!(
            keys().verify(&t, TokenType::Refresh, 1500),
            Err(JwtError::WrongType)
        );
    }

    #[test]
    fn a_tampered_payload_or_other_key_is_refused() {
        let t = keys().sign(&claims(TokenType::Access, 2000));
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let mut forged = claims(TokenType::Access, 2000);
        forged.sub = "1".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            keys().verify(&parts.join("."), TokenType::Access, 1500),
            Err(JwtError::Signature)
        );
        let other = JwtKeys::new(b"another-secret-that-is-32-bytes!".to_vec());
        assert_eq!(
            other.verify(&t, TokenType::Access, 1500),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(TokenType::Access, 2000)).unwrap());
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
        ] {
            let h = URL_SAFE_NO_PAD.encode(header);
            for t in [format!("{h}.{payload}."), format!("{h}.{payload}.AAAA")] {
                assert_eq!(
                    keys().verify(&t, TokenType::Access, 1500),
                    Err(JwtError::Algorithm)
                );
            }
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for t in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "....",
            "ä.ö.ü",
            &"x".repeat(10_000),
        ] {
            assert!(keys().verify(t, TokenType::Access, 0).is_err());
        }
    }
}
