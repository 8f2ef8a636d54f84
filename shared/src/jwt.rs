//! JSON Web Tokens: EdDSA (Ed25519) through the `jsonwebtoken` crate, with `kid`, `iss` and `aud`
//! set and checked. Exactly one algorithm is accepted: a header naming any other (`none`, `HS256`
//! with the public key as its secret, ...) is refused before a key is even chosen, and each key is
//! an Ed25519 key that the crate will use for nothing else. Why Ed25519: `keys.rs`.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, KeySet};

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
    /// Who issued it: the API's public base URL (the key set is at `{iss}/.well-known/jwks.json`).
    pub iss: String,
    pub sub: String,
    /// The API the sign-in was made for: `dfcu` (the password grant) or `fintract` (the code).
    pub aud: String,
    pub token_type: TokenType,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub ver: u64,
    /// The login family (session) the token belongs to, in refresh and access tokens alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
    /// When the sign-in behind the token was made (OpenID Connect's claim): the session's
    /// absolute end counts from it. Kept through refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// How the sign-in behind this token was made (RFC 8176): `pwd`, then `otp` for the code.
    /// Kept through refresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
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
}

/// Why a token was refused; every variant answers the same 401 to the client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not accepted")]
    Algorithm,
    /// Signed by a key this verifier does not hold (it may refresh its keys and try again).
    #[error("unknown key")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("wrong issuer or audience")]
    Claim,
    #[error("expired")]
    Expired,
    #[error("wrong token type")]
    WrongType,
    /// The published keys could not be read: the backend's fault, not the token's.
    #[error("published keys unreadable: {0}")]
    KeysUnreadable(String),
}

impl JwtError {
    /// The answer to a refused token: 401, unless the keys could not be read (the fixed 500).
    pub fn into_api_error(self, refused: crate::ApiError) -> crate::ApiError {
        match self {
            JwtError::KeysUnreadable(cause) => crate::ApiError::internal(cause),
            _ => refused,
        }
    }
}

/// The one algorithm.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;

/// The longest token we will even try to parse.
const MAX_TOKEN_LEN: usize = 4096;

/// The key that signs, with its id.
pub struct Signer {
    kid: String,
    key: EncodingKey,
}

impl Signer {
    /// The active key of a signing set (one holding private parts).
    pub fn of(set: &KeySet) -> Result<Self, KeyError> {
        let active = set.active().ok_or(KeyError::NoSigningKey)?;
        let der = active.pkcs8()?.ok_or(KeyError::NoSigningKey)?;
        Ok(Signer {
            kid: active.kid.clone(),
            key: EncodingKey::from_ed_der(&der),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` (`alg` EdDSA, `typ` JWT, `kid` this key's).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
    }
}

/// The public keys a verifier holds, by id.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
}

impl Verifier {
    /// The public keys of `set` (its private parts, if any, are not used).
    pub fn of(set: &KeySet) -> Self {
        let keys = set
            .keys
            .iter()
            .filter_map(|k| Some((k.kid.clone(), DecodingKey::from_ed_components(&k.x).ok()?)))
            .collect();
        Verifier { keys }
    }

    /// Adds the public keys of `set`.
    pub fn add(&mut self, set: &KeySet) {
        self.keys.extend(Self::of(set).keys);
    }

    /// Checks algorithm, key, signature, issuer, audience, expiry at `now` and type.
    pub fn verify(
        &self,
        token: &str,
        expected: TokenType,
        issuer: &str,
        now: i64,
    ) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
            return Err(JwtError::Malformed);
        }
        let header = Head::of(token)?;
        // RFC 7515 §4.1.11: extensions we do not understand must not be ignored; we know none.
        if header.crit.is_some() {
            return Err(JwtError::Malformed);
        }
        if header.alg != "EdDSA"
            || header
                .typ
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
        {
            return Err(JwtError::Algorithm);
        }
        let kid = header.kid.ok_or(JwtError::UnknownKey)?;
        let key = self.keys.get(&kid).ok_or(JwtError::UnknownKey)?;
        let mut validation = Validation::new(ALGORITHM);
        // Expiry is judged below by the context's clock (which tests move), not the system's.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUD_DFCU, AUD_FINTRACT]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => JwtError::Signature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    JwtError::Algorithm
                }
                ErrorKind::InvalidIssuer
                | ErrorKind::InvalidAudience
                | ErrorKind::MissingRequiredClaim(_) => JwtError::Claim,
                _ => JwtError::Malformed,
            })?
            .claims;
        if claims.exp <= now {
            return Err(JwtError::Expired);
        }
        if claims.token_type != expected {
            return Err(JwtError::WrongType);
        }
        Ok(claims)
    }
}

/// The header fields checked before a key is chosen, read once (the crate reads it again when
/// it checks the signature, and checks `alg` there too).
#[derive(Deserialize)]
struct Head {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl Head {
    fn of(token: &str) -> Result<Self, JwtError> {
        use base64::Engine;
        let encoded = token.split('.').next().unwrap_or_default();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| JwtError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
    }
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
    use crate::keys::KeyEntry;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const ISS: &str = "https://api.bank.example/fintract";

    fn set(seed: u8) -> KeySet {
        KeySet::single(KeyEntry::from_seed(&[seed; 32], 0).unwrap())
    }

    fn claims(token_type: TokenType, exp: i64) -> Claims {
        Claims {
            iss: ISS.into(),
            sub: "7".into(),
            aud: AUD_FINTRACT.into(),
            token_type,
            jti: random_id(),
            iat: 1000,
            exp,
            ver: 0,
            fam: None,
            auth_time: None,
            amr: vec![],
        }
    }

    fn sign(seed: u8, c: &Claims) -> String {
        Signer::of(&set(seed)).unwrap().sign(c).unwrap()
    }

    fn verify(t: &str, ty: TokenType, now: i64) -> Result<Claims, JwtError> {
        Verifier::of(&set(1).public()).verify(t, ty, ISS, now)
    }

    #[test]
    fn a_signed_token_verifies_with_the_public_key_alone() {
        let c = claims(TokenType::Access, 2000);
        let t = sign(1, &c);
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(set(1).keys[0].kid.as_str()));
        assert_eq!(verify(&t, TokenType::Access, 1500).unwrap(), c);
    }

    #[test]
    fn expired_tokens_wrong_types_issuers_and_audiences_are_refused() {
        let t = sign(1, &claims(TokenType::Access, 2000));
        assert_eq!(verify(&t, TokenType::Access, 2000), Err(JwtError::Expired));
        assert_eq!(
            verify(&t, TokenType::Refresh, 1500),
            Err(JwtError::WrongType)
        );
        let v = Verifier::of(&set(1));
        assert_eq!(
            v.verify(&t, TokenType::Access, "https://other.example", 1500),
            Err(JwtError::Claim)
        );
        let mut c = claims(TokenType::Access, 2000);
        c.aud = "someone-else".into();
        assert_eq!(
            verify(&sign(1, &c), TokenType::Access, 1500),
            Err(JwtError::Claim)
        );
    }

    #[test]
    fn a_tampered_payload_or_another_key_is_refused() {
        let t = sign(1, &claims(TokenType::Access, 2000));
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let mut forged = claims(TokenType::Access, 2000);
        forged.sub = "1".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            verify(&parts.join("."), TokenType::Access, 1500),
            Err(JwtError::Signature)
        );
        // Another key under our key's id.
        let other = sign(2, &claims(TokenType::Access, 2000));
        let (_, rest) = other.split_once('.').unwrap();
        let ours_header = t.split('.').next().unwrap();
        assert_eq!(
            verify(&format!("{ours_header}.{rest}"), TokenType::Access, 1500),
            Err(JwtError::Signature)
        );
        // Another key under its own id: unknown here.
        assert_eq!(
            verify(&other, TokenType::Access, 1500),
            Err(JwtError::UnknownKey)
        );
    }

    #[test]
    fn alg_none_hmac_with_the_public_key_and_other_algorithms_are_refused() {
        let c = claims(TokenType::Access, 2000);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let kid = &set(1).keys[0].kid;
        for alg in [
            "none", "HS256", "HS512", "RS256", "ES256", "EdDSA2", "eddsa",
        ] {
            let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#));
            for t in [format!("{h}.{payload}."), format!("{h}.{payload}.AAAA")] {
                assert!(
                    matches!(
                        verify(&t, TokenType::Access, 1500),
                        Err(JwtError::Algorithm | JwtError::Malformed)
                    ),
                    "{alg}"
                );
            }
        }
        // The classic confusion: HS256 keyed with the published public key.
        let public = URL_SAFE_NO_PAD.decode(&set(1).keys[0].x).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let forged = jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(&public)).unwrap();
        assert_eq!(
            verify(&forged, TokenType::Access, 1500),
            Err(JwtError::Algorithm)
        );
    }

    #[test]
    fn a_header_with_critical_extensions_is_refused() {
        let c = claims(TokenType::Access, 2000);
        let genuine = sign(1, &c);
        let kid = &set(1).keys[0].kid;
        // Signed by our key, with `crit` in its header.
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}","crit":["exp"],"exp":1}}"#
        ));
        let payload = genuine.split('.').nth(1).unwrap();
        let input = format!("{header}.{payload}");
        let key = EncodingKey::from_ed_der(&set(1).keys[0].pkcs8().unwrap().unwrap());
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, ALGORITHM).unwrap();
        let token = format!("{input}.{signature}");
        assert_eq!(
            verify(&token, TokenType::Access, 1500),
            Err(JwtError::Malformed)
        );
        assert!(verify(&genuine, TokenType::Access, 1500).is_ok());
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
            assert!(verify(t, TokenType::Access, 0).is_err());
        }
    }
}
