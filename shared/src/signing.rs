//! Where a function's token keys come from, and how they stay fresh (ARCHITECTURE.md §6).
//!
//! - **Issuers** (the functions that sign: `token`, `verify-otp`, `token-refresh`) hold the
//!   signing set: read at cold start from the secret `JWT_SIGNING_KEYS_ARN` names (or, locally,
//!   the file `JWT_SIGNING_KEYS_FILE` names, or `JWT_SIGNING_KEYS` itself), and re-read when the
//!   copy is [`KEY_CACHE_SECS`] old, so an activated key signs everywhere within that time.
//! - **Verifiers** (every other function) hold public keys only: `JWT_PUBLIC_KEYS` (a JWKS, the
//!   template's `JwtPublicKeys` parameter) at cold start without a network call, and, meeting a
//!   key id they do not know, the published set from the store, at most once per
//!   [`KEY_REFRESH_SECS`]. That is how a published key reaches a verifier that started before it.
//! - The **operator's steps** (publish, activate, retire) write both: the published set before the
//!   signing set when a key arrives, after it when one leaves ([`rotate`]).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::config::{Config, ConfigError};
use crate::jwt::{Claims, JwtError, Signer, TokenType, Verifier};
use crate::keys::{KeyError, KeySet, KEY_CACHE_SECS, KEY_REFRESH_SECS};
use crate::store::StoreError;
use crate::Ctx;

/// The keys each function holds (ARCHITECTURE.md §6), by the configuration variable that names
/// the secret in AWS; every other function holds none of them. `template.yaml` gives each
/// function exactly these (its environment and its policy), the tests hold it to this table, and
/// a function missing one of its keys does not start ([`check_held`]).
pub const KEY_HOLDERS: &[(&str, &[&str])] = &[
    // The private signing keys: the functions that issue tokens.
    ("JWT_SIGNING_KEYS_ARN", &["token", "token-refresh", "verify-otp"]),
    // The sign-in code hashes: issued by login, redeemed by verify-otp.
    ("OTP_KEY_ARN", &["login", "verify-otp"]),
    // The session cookie of the operators' dashboard.
    ("DASHBOARD_KEY_ARN", &["dashboard"]),
];

/// Whether `function` holds the key the configuration variable `variable` names.
pub fn holds(function: &str, variable: &str) -> bool {
    KEY_HOLDERS
        .iter()
        .any(|(v, holders)| *v == variable && holders.contains(&function))
}

/// Refuses to start `function` without each key it holds by [`KEY_HOLDERS`].
pub fn check_held(function: &str, config: &Config) -> Result<(), ConfigError> {
    for (variable, _) in KEY_HOLDERS.iter().filter(|(v, _)| holds(function, v)) {
        let held = match *variable {
            "JWT_SIGNING_KEYS_ARN" => config.signing_keys.is_some(),
            "OTP_KEY_ARN" => config.otp_key.is_some(),
            _ => config.dashboard_key.is_some(),
        };
        if !held {
            return Err(ConfigError {
                name: variable,
                problem: format!(
                    "the {function} function needs this key (locally, {} or LOCAL_SECRET)",
                    variable.trim_end_matches("_ARN")
                ),
            });
        }
    }
    Ok(())
}

/// Where the signing set is read from (and written by the operator's steps).
#[derive(Clone)]
pub enum SigningSource {
    /// This function issues no tokens.
    None,
    /// Given whole in the configuration (tests; `JWT_SIGNING_KEYS`): never re-read.
    Fixed,
    /// A file of the local gateway (`JWT_SIGNING_KEYS_FILE`), written with mode 0600.
    File(PathBuf),
    /// A Secrets Manager secret.
    Secret {
        client: aws_sdk_secretsmanager::Client,
        arn: String,
    },
}

/// Why a signing set could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SigningSource {
    /// Reads the signing set.
    pub async fn read(&self) -> Result<Option<KeySet>, SourceError> {
        let json = match self {
            SigningSource::None | SigningSource::Fixed => return Ok(None),
            SigningSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| SourceError::Io(format!("{}: {e}", path.display())))?,
            SigningSource::Secret { client, arn } => client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    SourceError::Io(
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                    )
                })?
                .secret_string()
                .ok_or_else(|| SourceError::Io("the secret has no string value".into()))?
                .to_string(),
        };
        Ok(Some(KeySet::parse(json.trim())?))
    }

    /// Replaces the signing set (the operator's steps).
    pub async fn write(&self, set: &KeySet) -> Result<(), SourceError> {
        match self {
            SigningSource::None | SigningSource::Fixed => Err(SourceError::Io(
                "no JWT_SIGNING_KEYS_ARN or JWT_SIGNING_KEYS_FILE to write the keys to".into(),
            )),
            SigningSource::File(path) => write_private(path, &set.to_json())
                .map_err(|e| SourceError::Io(format!("{}: {e}", path.display()))),
            SigningSource::Secret { client, arn } => client
                .put_secret_value()
                .secret_id(arn)
                .secret_string(set.to_json())
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    SourceError::Io(
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                    )
                }),
        }
    }
}

/// Writes `contents` readable by the owner only, replacing the file in one step.
pub fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&temporary, path)
}

struct Signing {
    signer: Arc<Signer>,
    /// The public part of the signing set: an issuer verifies what it signs.
    public: KeySet,
    read_at: i64,
}

/// A function's token keys.
pub struct TokenKeys {
    source: SigningSource,
    signing: RwLock<Option<Signing>>,
    verifier: RwLock<Verifier>,
    /// When the published set was last read; held across the read, so that requests meeting the
    /// same new key at once wait for one read instead of being refused.
    refreshed_at: tokio::sync::Mutex<Option<i64>>,
}

impl TokenKeys {
    /// The keys the configuration holds (an issuer's signing set was read at cold start).
    pub fn new(config: &Config, source: SigningSource, now: i64) -> Result<Self, ConfigError> {
        let key_error = |name: &'static str| {
            move |e: KeyError| ConfigError {
                name,
                problem: e.to_string(),
            }
        };
        let mut verifiable = config.public_keys.clone().unwrap_or_default();
        let signing = match &config.signing_keys {
            Some(set) => {
                verifiable.keys.extend(set.public().keys);
                Some(Signing {
                    signer: Arc::new(Signer::of(set).map_err(key_error("JWT_SIGNING_KEYS"))?),
                    public: set.public(),
                    read_at: now,
                })
            }
            None => None,
        };
        let source = match (&source, &signing) {
            (SigningSource::None, Some(_)) => SigningSource::Fixed,
            _ => source,
        };
        Ok(TokenKeys {
            source,
            signing: RwLock::new(signing),
            verifier: RwLock::new(Verifier::of(&verifiable)),
            refreshed_at: tokio::sync::Mutex::new(None),
        })
    }

    /// Where the signing set comes from.
    pub fn source(&self) -> &SigningSource {
        &self.source
    }
}

impl Ctx {
    /// Where this function re-reads its signing set.
    pub fn signing_source(&self) -> &SigningSource {
        self.token_keys.source()
    }

    /// Signs `claims` with the active key, re-reading the signing set first when this copy is
    /// [`KEY_CACHE_SECS`] old (a failed re-read keeps the copy: sign-in goes on).
    pub async fn sign_token(&self, claims: &Claims) -> Result<String, crate::ApiError> {
        let now = self.now();
        let stale = match &*self.token_keys.signing.read().expect("keys lock") {
            None => return Err(crate::ApiError::internal("this function holds no signing key")),
            Some(s) => now - s.read_at >= KEY_CACHE_SECS,
        };
        if stale {
            self.reread_signing_keys(now).await;
        }
        let signer = match &*self.token_keys.signing.read().expect("keys lock") {
            Some(s) => s.signer.clone(),
            None => return Err(crate::ApiError::internal("this function holds no signing key")),
        };
        Ok(signer.sign(claims))
    }

    async fn reread_signing_keys(&self, now: i64) {
        match self.token_keys.source.read().await {
            Ok(Some(set)) => match Signer::of(&set) {
                Ok(signer) => {
                    *self.token_keys.signing.write().expect("keys lock") = Some(Signing {
                        signer: Arc::new(signer),
                        public: set.public(),
                        read_at: now,
                    });
                    self.token_keys
                        .verifier
                        .write()
                        .expect("keys lock")
                        .add(&set);
                }
                Err(e) => tracing::warn!(error = %e, "signing keys unusable: keeping the last"),
            },
            Ok(None) => {
                if let Some(s) = self.token_keys.signing.write().expect("keys lock").as_mut() {
                    s.read_at = now;
                }
            }
            Err(e) => tracing::warn!(error = %e, "signing keys unreadable: keeping the last"),
        }
    }

    /// Checks a token issued by this API (`issuer`, its public base URL). Meeting a key id it
    /// does not know, it re-reads the published keys, at most once per [`KEY_REFRESH_SECS`].
    pub async fn verify_token(
        &self,
        token: &str,
        expected: TokenType,
        issuer: &str,
    ) -> Result<Claims, JwtError> {
        let now = self.now();
        let first = self.verify_held(token, expected, issuer, now);
        if first != Err(JwtError::UnknownKey) {
            return first;
        }
        let mut refreshed = self.token_keys.refreshed_at.lock().await;
        // Another request may have read the set while this one waited.
        let again = self.verify_held(token, expected, issuer, now);
        if again != Err(JwtError::UnknownKey)
            || refreshed.is_some_and(|at| now - at < KEY_REFRESH_SECS)
        {
            return again;
        }
        match self.store.published_keys().await {
            Ok(Some(set)) => {
                // The published keys replace the held ones (a retired key leaves), but an issuer
                // keeps what its own signing set holds.
                let mut fresh = Verifier::of(&set);
                if let Some(s) = self.token_keys.signing.read().expect("keys lock").as_ref() {
                    fresh.add(&s.public);
                }
                *self.token_keys.verifier.write().expect("keys lock") = fresh;
            }
            Ok(None) => {}
            // Not the token's fault: the next request reads again.
            Err(e) => return Err(JwtError::KeysUnreadable(e.to_string())),
        }
        *refreshed = Some(now);
        self.verify_held(token, expected, issuer, now)
    }

    fn verify_held(
        &self,
        token: &str,
        expected: TokenType,
        issuer: &str,
        now: i64,
    ) -> Result<Claims, JwtError> {
        self.token_keys
            .verifier
            .read()
            .expect("keys lock")
            .verify(token, expected, issuer, now)
    }
}

/// One of the operator's steps on the signing keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Publish the signing set's public keys again (after a first deployment).
    Sync,
    Publish,
    Activate,
    Retire,
}

/// Runs `step` at the context's time on its signing source and store, and answers what changed.
/// A key is published before it can sign, and leaves the signing set before the published one.
pub async fn rotate(ctx: &Ctx, step: Step) -> Result<String, SourceError> {
    let source = ctx.token_keys.source();
    let mut set = source
        .read()
        .await?
        .or_else(|| ctx.config.signing_keys.clone())
        .unwrap_or_default();
    let now = ctx.now();
    let max_token_secs = ctx.config.refresh_ttl.max(ctx.config.access_ttl).as_secs() as i64;
    let said = match step {
        Step::Sync => {
            ctx.store.publish_keys(&set).await?;
            return Ok(format!("published {} key(s)", set.keys.len()));
        }
        Step::Publish => {
            let key = set.publish(now)?;
            ctx.store.publish_keys(&set).await?;
            source.write(&set).await?;
            if key.activated_at.is_some() {
                format!("key {} published and active (the first key)", key.kid)
            } else {
                format!(
                    "key {} published; activate it in {KEY_CACHE_SECS} s or later",
                    key.kid
                )
            }
        }
        Step::Activate => {
            let kid = set.activate(now)?;
            source.write(&set).await?;
            ctx.store.publish_keys(&set).await?;
            format!("key {kid} signs from now on (every issuer within {KEY_CACHE_SECS} s)")
        }
        Step::Retire => {
            let gone = set.retire(now, max_token_secs)?;
            source.write(&set).await?;
            ctx.store.publish_keys(&set).await?;
            format!("retired {}", gone.join(", "))
        }
    };
    Ok(said)
}
