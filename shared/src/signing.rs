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
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::{Backend, Config, ConfigError};
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
    (
        "JWT_SIGNING_KEYS_ARN",
        &["token", "token-refresh", "verify-otp", "change-password"],
    ),
    // The code hashes: sign-in codes issued by login and redeemed by verify-otp; phone
    // confirmation codes, both ways by verify-phone; authenticator secrets (sealed under a key
    // derived from it) and recovery codes, by authenticator and verify-otp.
    (
        "OTP_KEY_ARN",
        &["login", "verify-otp", "verify-phone", "authenticator"],
    ),
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
    /// When the signing set is read again (every [`KEY_CACHE_SECS`]; sooner after a failure).
    read_again_at: i64,
}

/// A failed read of a key set is tried again after this long, not on every request.
const KEY_RETRY_SECS: i64 = 30;

/// A function's token keys.
pub struct TokenKeys {
    source: SigningSource,
    signing: RwLock<Option<Signing>>,
    verifier: RwLock<Verifier>,
    /// When the published set is due to be read again: every [`KEY_CACHE_SECS`], so that a key
    /// removed from it stops verifying everywhere within that time.
    read_published_at: AtomicI64,
    /// When a token naming an unknown key last caused a read; held across the read, so that
    /// requests meeting the same new key at once wait for one read instead of being refused.
    unknown_read_at: tokio::sync::Mutex<Option<i64>>,
}

/// A lock's data even if a panic poisoned it: the data are whole values, replaced at once.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl TokenKeys {
    /// The keys the configuration holds (an issuer's signing set was read at cold start).
    pub fn new(config: &Config, source: SigningSource, now: i64) -> Result<Self, ConfigError> {
        let mut verifiable = config.public_keys.clone().unwrap_or_default();
        let signing = match &config.signing_keys {
            Some(set) => {
                verifiable.keys.extend(set.public().keys);
                Some(Signing {
                    signer: Arc::new(Signer::of(set).map_err(|e| ConfigError {
                        name: "JWT_SIGNING_KEYS",
                        problem: e.to_string(),
                    })?),
                    public: set.public(),
                    read_again_at: now + KEY_CACHE_SECS,
                })
            }
            None => None,
        };
        let source = match (&source, &signing) {
            (SigningSource::None, Some(_)) => SigningSource::Fixed,
            _ => source,
        };
        // Keys given at cold start serve a cache lifetime; without any, the first token reads.
        let read_published_at = if verifiable.keys.is_empty() {
            i64::MIN
        } else {
            now + KEY_CACHE_SECS
        };
        Ok(TokenKeys {
            source,
            signing: RwLock::new(signing),
            verifier: RwLock::new(Verifier::of(&verifiable)),
            read_published_at: AtomicI64::new(read_published_at),
            unknown_read_at: tokio::sync::Mutex::new(None),
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
    /// [`KEY_CACHE_SECS`] old (a failed re-read keeps the copy, and is tried again after
    /// [`KEY_RETRY_SECS`]: sign-in goes on).
    pub async fn sign_token(&self, claims: &Claims) -> Result<String, crate::ApiError> {
        let now = self.now();
        let due = match &*read(&self.token_keys.signing) {
            None => {
                return Err(crate::ApiError::internal(
                    "this function holds no signing key",
                ))
            }
            Some(s) => now >= s.read_again_at,
        };
        if due {
            self.reread_signing_keys(now).await;
        }
        let signer = match &*read(&self.token_keys.signing) {
            Some(s) => s.signer.clone(),
            None => {
                return Err(crate::ApiError::internal(
                    "this function holds no signing key",
                ))
            }
        };
        signer.sign(claims).map_err(crate::ApiError::internal)
    }

    async fn reread_signing_keys(&self, now: i64) {
        let retry = |why: String| {
            tracing::warn!(error = %why, "signing keys not re-read: keeping the last");
            if let Some(s) = write(&self.token_keys.signing).as_mut() {
                s.read_again_at = now + KEY_RETRY_SECS;
            }
        };
        match self.token_keys.source.read().await {
            Ok(Some(set)) => match Signer::of(&set) {
                Ok(signer) => {
                    *write(&self.token_keys.signing) = Some(Signing {
                        signer: Arc::new(signer),
                        public: set.public(),
                        read_again_at: now + KEY_CACHE_SECS,
                    });
                    // The signing set holds every key not retired: a retired one leaves here too.
                    *write(&self.token_keys.verifier) = Verifier::of(&set);
                }
                Err(e) => retry(e.to_string()),
            },
            Ok(None) => {
                if let Some(s) = write(&self.token_keys.signing).as_mut() {
                    s.read_again_at = now + KEY_CACHE_SECS;
                }
            }
            Err(e) => retry(e.to_string()),
        }
    }

    /// Checks a token issued by this API (`issuer`, its public base URL). The published keys are
    /// read again every [`KEY_CACHE_SECS`] (a removed key stops verifying within that time) and,
    /// for a token naming a key this function does not hold, at most once per
    /// [`KEY_REFRESH_SECS`]. A failed read is tried again after [`KEY_RETRY_SECS`]; meanwhile the
    /// held keys still answer.
    pub async fn verify_token(
        &self,
        token: &str,
        expected: TokenType,
        issuer: &str,
    ) -> Result<Claims, JwtError> {
        let now = self.now();
        let first = self.verify_held(token, expected, issuer, now);
        let due = || now >= self.token_keys.read_published_at.load(Ordering::Acquire);
        if first != Err(JwtError::UnknownKey) && !due() {
            return first;
        }
        let mut unknown_read_at = self.token_keys.unknown_read_at.lock().await;
        // Another request may have read the set while this one waited.
        let again = self.verify_held(token, expected, issuer, now);
        let unknown = again == Err(JwtError::UnknownKey)
            && unknown_read_at.is_none_or(|at| now - at >= KEY_REFRESH_SECS);
        if !unknown && !due() {
            return again;
        }
        if unknown {
            *unknown_read_at = Some(now);
        }
        match self.store.published_keys().await {
            Ok(Some(set)) if !set.keys.is_empty() => {
                // The published keys replace the held ones (a retired key leaves), but an issuer
                // keeps what its own signing set holds.
                let mut fresh = Verifier::of(&set);
                if let Some(s) = read(&self.token_keys.signing).as_ref() {
                    fresh.add(&s.public);
                }
                *write(&self.token_keys.verifier) = fresh;
                self.token_keys
                    .read_published_at
                    .store(now + KEY_CACHE_SECS, Ordering::Release);
            }
            // Nothing published: what is held stays.
            Ok(_) => self
                .token_keys
                .read_published_at
                .store(now + KEY_CACHE_SECS, Ordering::Release),
            Err(e) => {
                self.token_keys
                    .read_published_at
                    .store(now + KEY_RETRY_SECS, Ordering::Release);
                tracing::warn!(error = %e, "published keys unreadable");
                // Not the token's fault when its key could not be looked up: the fixed 500.
                return match again {
                    Err(JwtError::UnknownKey) => Err(JwtError::KeysUnreadable(e.to_string())),
                    held => held,
                };
            }
        }
        self.verify_held(token, expected, issuer, now)
    }

    fn verify_held(
        &self,
        token: &str,
        expected: TokenType,
        issuer: &str,
        now: i64,
    ) -> Result<Claims, JwtError> {
        read(&self.token_keys.verifier).verify(token, expected, issuer, now)
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
    let writable = matches!(
        source,
        SigningSource::File(_) | SigningSource::Secret { .. }
    );
    let laptop = matches!(ctx.config.backend, Backend::Embedded { .. });
    // Never from keys derived on a laptop into a deployment's table, nor a guess at the set.
    if !(writable || (step == Step::Sync && laptop)) {
        return Err(SourceError::Io(
            "name the signing keys: JWT_SIGNING_KEYS_ARN (or JWT_SIGNING_KEYS_FILE)".into(),
        ));
    }
    let mut set = match source.read().await? {
        Some(set) => set,
        None => ctx.config.signing_keys.clone().unwrap_or_default(),
    };
    let now = ctx.now();
    let max_token_secs = ctx.config.refresh_ttl.max(ctx.config.access_ttl).as_secs() as i64;
    // After the signing set was written, a failed publication is repaired by `keys sync`.
    let publish_after = |set: KeySet| async move {
        ctx.store.publish_keys(&set).await.map_err(|e| {
            SourceError::Io(format!(
                "the signing keys were written, but publishing them failed ({e}): run \
                 `fintract-admin keys sync`"
            ))
        })
    };
    let said = match step {
        Step::Sync => {
            if set.keys.is_empty() {
                return Err(SourceError::Io(
                    "the signing set holds no key: nothing to publish".into(),
                ));
            }
            ctx.store.publish_keys(&set).await?;
            return Ok(format!("published {} key(s)", set.keys.len()));
        }
        Step::Publish => {
            let key = set.publish(now)?;
            // Published before it can ever sign.
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
            let published = ctx.store.published_keys().await?.unwrap_or_default();
            let kid = set.activate(now)?;
            let seen = published
                .keys
                .iter()
                .any(|k| k.kid == kid && k.published_at <= now - KEY_CACHE_SECS);
            if !seen {
                return Err(SourceError::Io(format!(
                    "key {kid} has not been in the published set for {KEY_CACHE_SECS} s: run \
                     `fintract-admin keys sync`, then activate {KEY_CACHE_SECS} s later"
                )));
            }
            source.write(&set).await?;
            publish_after(set).await?;
            format!("key {kid} signs from now on (every issuer within {KEY_CACHE_SECS} s)")
        }
        Step::Retire => {
            let gone = set.retire(now, max_token_secs)?;
            // Out of the signing set first, then out of what verifiers trust.
            source.write(&set).await?;
            publish_after(set).await?;
            format!("retired {}", gone.join(", "))
        }
    };
    Ok(said)
}
