//! The token signing keys and their life cycle (ARCHITECTURE.md §6).
//!
//! Tokens are signed with EdDSA over Ed25519: a verifier needs only the 32-byte public key, so the
//! functions that check tokens hold nothing that could mint one; signatures are deterministic (no
//! per-signature random nonce to get wrong, unlike ECDSA); signing and checking are cheap; and
//! PyJWT, `jose`, Java's Nimbus and AWS's own JWT libraries accept it. Keys are JWKs (RFC 8037:
//! `kty` `OKP`, `crv` `Ed25519`, the public `x`, the private seed `d`), kept in a set with the
//! times of their life cycle:
//!
//! 1. **publish**: a new key joins the set, public part first (the store's copy, which verifiers
//!    and partners read), and does not sign yet;
//! 2. **activate**: once it has been published for [`KEY_CACHE_SECS`] (every cache of the key set,
//!    partners' included, has had time to see it), it becomes the key that signs;
//! 3. **retire**: once the key that replaced an old one has signed for [`KEY_CACHE_SECS`] (every
//!    issuer has re-read the set) plus the longest token lifetime, no token of the old key can
//!    still be valid, and it leaves the set.
//!
//! Hand-written because no crate manages a key set's life cycle; the signing and checking
//! themselves are the `jsonwebtoken` crate's (`jwt.rs`), the keys aws-lc-rs's (already linked by
//! the AWS SDK's TLS).

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// How long anyone may cache the published key set (the key set's `max-age`), and how often an
/// issuer re-reads its signing keys: a new key is published this long before it signs.
pub const KEY_CACHE_SECS: i64 = 300;

/// A verifier that meets a key id it does not know re-reads the published set at most this often.
pub const KEY_REFRESH_SECS: i64 = 60;

/// One Ed25519 key of the set, as a JWK with its life-cycle times. Its `Debug` never shows `d`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub kid: String,
    pub kty: String,
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// The private seed, base64url: only in the signing set, never in the published one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    pub published_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<i64>,
}

/// The set of keys: with private parts, the signing set (a secret readable only by the
/// functions that issue tokens); without, the published set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    pub keys: Vec<KeyEntry>,
}

/// Why a key set or a rotation step was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key set is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("key {0}: not a valid Ed25519 key")]
    BadKey(String),
    #[error("the key set has no active key with its private part")]
    NoSigningKey,
    #[error("{0}")]
    Step(String),
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("x", &self.x)
            .field("d", &self.d.as_ref().map(|_| "[redacted]"))
            .field("published_at", &self.published_at)
            .field("activated_at", &self.activated_at)
            .finish()
    }
}

impl KeyEntry {
    /// A new random key published at `now`.
    pub fn generate(now: i64) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::generate().map_err(|_| KeyError::BadKey("new".into()))?;
        let seed = pair
            .seed()
            .map_err(|_| KeyError::BadKey("new".into()))?
            .as_be_bytes()
            .map_err(|_| KeyError::BadKey("new".into()))?;
        Ok(Self::from_parts(
            seed.as_ref(),
            pair.public_key().as_ref(),
            now,
        ))
    }

    /// The key of a fixed seed (tests need keys they can sign with).
    pub fn from_seed(seed: &[u8; 32], now: i64) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| KeyError::BadKey("seed".into()))?;
        Ok(Self::from_parts(seed, pair.public_key().as_ref(), now))
    }

    fn from_parts(seed: &[u8], public: &[u8], now: i64) -> Self {
        let x = URL_SAFE_NO_PAD.encode(public);
        // The key id: a hash of the public key (RFC 7638 in spirit), short and stable.
        let kid = crate::crypto::sha256_hex(&format!("ed25519:{x}"))[..16].to_string();
        KeyEntry {
            kid,
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x,
            d: Some(URL_SAFE_NO_PAD.encode(seed)),
            published_at: now,
            activated_at: None,
        }
    }

    /// The key in PKCS#8, as the signer takes it, when this entry holds its private part.
    pub fn pkcs8(&self) -> Result<Option<Vec<u8>>, KeyError> {
        let Some(d) = &self.d else {
            return Ok(None);
        };
        let bad = || KeyError::BadKey(self.kid.clone());
        let seed = URL_SAFE_NO_PAD.decode(d).map_err(|_| bad())?;
        let public = URL_SAFE_NO_PAD.decode(&self.x).map_err(|_| bad())?;
        let pair = Ed25519KeyPair::from_seed_and_public_key(&seed, &public).map_err(|_| bad())?;
        Ok(Some(pair.to_pkcs8().map_err(|_| bad())?.as_ref().to_vec()))
    }

    fn check(&self) -> Result<(), KeyError> {
        let bad = || KeyError::BadKey(self.kid.clone());
        if self.kty != "OKP" || self.crv != "Ed25519" || self.kid.is_empty() {
            return Err(bad());
        }
        match URL_SAFE_NO_PAD.decode(&self.x) {
            Ok(x) if x.len() == 32 => {}
            _ => return Err(bad()),
        }
        self.pkcs8().map(|_| ())
    }
}

impl KeySet {
    /// Parses and checks a key set: our own form, or a plain JWKS (`{"keys":[{kty,crv,x,kid}]}`,
    /// as the key set endpoint serves it) whose keys then count as published long ago.
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Loose {
            keys: Vec<LooseKey>,
        }
        #[derive(Deserialize)]
        struct LooseKey {
            kid: String,
            kty: String,
            crv: String,
            x: String,
            #[serde(default)]
            d: Option<String>,
            #[serde(default)]
            published_at: i64,
            #[serde(default)]
            activated_at: Option<i64>,
        }
        let loose: Loose =
            serde_json::from_str(json).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let set = KeySet {
            keys: loose
                .keys
                .into_iter()
                .map(|k| KeyEntry {
                    kid: k.kid,
                    kty: k.kty,
                    crv: k.crv,
                    x: k.x,
                    d: k.d,
                    published_at: k.published_at,
                    activated_at: k.activated_at,
                })
                .collect(),
        };
        for key in &set.keys {
            key.check()?;
        }
        Ok(set)
    }

    /// Parses a set that must hold public keys only (`JWT_PUBLIC_KEYS`, the published set): a
    /// private part pasted there by mistake would reach every function, so it is refused.
    pub fn parse_public(json: &str) -> Result<Self, KeyError> {
        let set = Self::parse(json)?;
        match set.keys.iter().find(|k| k.d.is_some()) {
            Some(k) => Err(KeyError::Malformed(format!(
                "key {} carries its private part: give the published set (`fintract-admin keys show`)",
                k.kid
            ))),
            None => Ok(set),
        }
    }

    /// A set of one key, active at once (a new deployment's first key; tests).
    pub fn single(mut key: KeyEntry) -> Self {
        key.activated_at = Some(key.published_at);
        KeySet { keys: vec![key] }
    }

    /// The set as JSON (private parts included when present).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The set without its private parts: what verifiers and partners may read.
    pub fn public(&self) -> KeySet {
        KeySet {
            keys: self
                .keys
                .iter()
                .map(|k| KeyEntry {
                    d: None,
                    ..k.clone()
                })
                .collect(),
        }
    }

    /// The standard JWKS document (RFC 7517) of the published keys.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": self.keys.iter().map(|k| serde_json::json!({
                "kty": k.kty, "crv": k.crv, "x": k.x, "kid": k.kid, "alg": "EdDSA", "use": "sig",
            })).collect::<Vec<_>>()
        })
    }

    /// The key that signs: the one activated last.
    pub fn active(&self) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .filter(|k| k.activated_at.is_some())
            .max_by_key(|k| k.activated_at)
    }

    /// Step 1: a new key joins the set. The first key of an empty set is active at once (there is
    /// nothing to rotate from); otherwise it waits for [`KeySet::activate`].
    pub fn publish(&mut self, now: i64) -> Result<KeyEntry, KeyError> {
        if let Some(waiting) = self.keys.iter().find(|k| k.activated_at.is_none()) {
            return Err(KeyError::Step(format!(
                "key {} is published and not active yet: activate it first",
                waiting.kid
            )));
        }
        let mut key = KeyEntry::generate(now)?;
        if self.keys.is_empty() {
            key.activated_at = Some(now);
        }
        self.keys.push(key.clone());
        Ok(key)
    }

    /// Step 2: the published key signs from now on, once every cache can have seen it.
    pub fn activate(&mut self, now: i64) -> Result<String, KeyError> {
        let Some(key) = self.keys.iter_mut().find(|k| k.activated_at.is_none()) else {
            return Err(KeyError::Step(
                "no published key is waiting: publish one first".into(),
            ));
        };
        let ready_at = key.published_at + KEY_CACHE_SECS;
        if now < ready_at {
            return Err(KeyError::Step(format!(
                "key {} was published {} s ago; it may sign {} s after publication, in {} s",
                key.kid,
                now - key.published_at,
                KEY_CACHE_SECS,
                ready_at - now
            )));
        }
        key.activated_at = Some(now);
        Ok(key.kid.clone())
    }

    /// Step 3: removes the keys that no valid token can carry any more: those replaced by an
    /// activation at least [`KEY_CACHE_SECS`] + `max_token_secs` ago. Answers the ids removed.
    pub fn retire(&mut self, now: i64, max_token_secs: i64) -> Result<Vec<String>, KeyError> {
        let active = self.active().cloned().ok_or(KeyError::NoSigningKey)?;
        let activated = active.activated_at.unwrap_or(i64::MAX);
        let replaced: Vec<&KeyEntry> = self
            .keys
            .iter()
            .filter(|k| k.kid != active.kid && k.activated_at.is_some_and(|a| a <= activated))
            .collect();
        if replaced.is_empty() {
            return Err(KeyError::Step("no replaced key to retire".into()));
        }
        let leaves_at = activated + KEY_CACHE_SECS + max_token_secs;
        if now < leaves_at {
            return Err(KeyError::Step(format!(
                "tokens signed by the replaced key may be valid for {} s more: retire after that",
                leaves_at - now
            )));
        }
        let gone: Vec<String> = replaced.iter().map(|k| k.kid.clone()).collect();
        self.keys.retain(|k| !gone.contains(&k.kid));
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_and_its_private_part_stays_out_of_the_published_set() {
        let mut set = KeySet::default();
        let first = set.publish(1000).unwrap();
        assert_eq!(set.active().unwrap().kid, first.kid);
        let parsed = KeySet::parse(&set.to_json()).unwrap();
        assert_eq!(parsed, set);
        assert!(parsed.active().unwrap().pkcs8().unwrap().is_some());
        let public = set.public();
        assert!(public.keys.iter().all(|k| k.d.is_none()));
        assert!(!public.to_json().contains(first.d.as_deref().unwrap()));
        assert!(!set.jwks().to_string().contains("\"d\""));
        assert!(
            KeySet::parse_public(&set.to_json()).is_err(),
            "private parts"
        );
        assert!(
            !format!("{set:?}").contains(first.d.as_deref().unwrap()),
            "Debug shows d"
        );
        // The JWKS form parses too (a verifier's configured keys).
        assert_eq!(
            KeySet::parse(&set.jwks().to_string()).unwrap().keys[0].x,
            first.x
        );
    }

    #[test]
    fn publish_activate_retire_keep_their_waits() {
        let mut set = KeySet::default();
        let a = set.publish(0).unwrap();
        let b = set.publish(100).unwrap();
        assert!(set.publish(101).is_err(), "one waiting key at a time");
        assert_eq!(set.active().unwrap().kid, a.kid, "published is not active");
        assert!(set.activate(100 + KEY_CACHE_SECS - 1).is_err());
        assert_eq!(set.activate(100 + KEY_CACHE_SECS).unwrap(), b.kid);
        assert_eq!(set.active().unwrap().kid, b.kid);
        let activated = 100 + KEY_CACHE_SECS;
        assert!(set.retire(activated + KEY_CACHE_SECS + 999, 1000).is_err());
        assert_eq!(
            set.retire(activated + KEY_CACHE_SECS + 1000, 1000).unwrap(),
            vec![a.kid]
        );
        assert_eq!(set.keys.len(), 1);
        assert!(
            set.retire(i64::MAX / 2, 1000).is_err(),
            "nothing left to retire"
        );
    }

    #[test]
    fn keys_that_are_not_ed25519_are_refused() {
        let mut set = KeySet::single(KeyEntry::from_seed(&[7; 32], 0).unwrap());
        set.keys[0].crv = "P-256".into();
        assert!(KeySet::parse(&set.to_json()).is_err());
        let mut set = KeySet::single(KeyEntry::from_seed(&[7; 32], 0).unwrap());
        set.keys[0].x = URL_SAFE_NO_PAD.encode([1u8; 31]);
        assert!(KeySet::parse(&set.to_json()).is_err());
        // A private part that does not belong to the public one.
        let mut set = KeySet::single(KeyEntry::from_seed(&[7; 32], 0).unwrap());
        set.keys[0].d = KeyEntry::from_seed(&[8; 32], 0).unwrap().d;
        assert!(KeySet::parse(&set.to_json()).is_err());
        assert!(KeySet::parse("{}").is_err());
    }
}
