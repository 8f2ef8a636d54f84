//! Configuration, read once per cold start from environment variables (documented in README).

use std::path::PathBuf;
use std::time::Duration;

use crate::keys::{KeyEntry, KeySet};

/// Which adapters the ports use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// DynamoDB, S3, SES and SNS through the AWS SDK (honours `AWS_ENDPOINT_URL`).
    Aws,
    /// SQLite file, local blob directory and outbox: no AWS account needed.
    Embedded { database_path: PathBuf },
}

/// Everything a function reads from its environment. Its `Debug` shows no key.
#[derive(Clone)]
pub struct Config {
    pub backend: Backend,
    pub table_name: String,
    pub counter_table_name: String,
    /// The token signing keys, private parts included (`JWT_SIGNING_KEYS`, or read at cold start
    /// from `JWT_SIGNING_KEYS_ARN` / `JWT_SIGNING_KEYS_FILE`): only the functions that issue
    /// tokens have them (ARCHITECTURE.md §6).
    pub signing_keys: Option<KeySet>,
    pub signing_keys_arn: Option<String>,
    pub signing_keys_file: Option<PathBuf>,
    /// Public keys a verifier starts with, without a network call (`JWT_PUBLIC_KEYS`, a JWKS).
    pub public_keys: Option<KeySet>,
    /// The key of the sign-in code hashes (`OTP_KEY`, or the secret `OTP_KEY_ARN` names).
    pub otp_key: Option<Vec<u8>>,
    pub otp_key_arn: Option<String>,
    /// The key of the dashboard's session cookie (`DASHBOARD_KEY` / `DASHBOARD_KEY_ARN`).
    pub dashboard_key: Option<Vec<u8>>,
    pub dashboard_key_arn: Option<String>,
    /// The key of the local gateway's download URLs (`BLOB_URL_KEY`; S3 presigns in AWS).
    pub blob_url_key: Option<Vec<u8>>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// The absolute lifetime of a login (`SESSION_MAX_SECS`), however often it is refreshed.
    pub session_max: Duration,
    /// The request rate counting is sized for (`COUNTER_TARGET_RPS`): it sets how many
    /// partitions each hour's counts spread over ([`Config::counter_parts`]).
    pub counter_target_rps: u64,
    /// Whether each answer also writes a CloudWatch Embedded Metric Format line to stdout
    /// (`METRICS_EMF`; on by default inside Lambda, off elsewhere).
    pub emf_metrics: bool,
    /// The CloudWatch namespace of those metrics (`METRICS_NAMESPACE`).
    pub metrics_namespace: String,
    /// The API's public base URL (a custom domain with its base path), when configured: it wins.
    /// Unset in AWS by default, where each request's API Gateway context gives it instead
    /// (`Ctx::public_base_url`): a reference to the API from each function would be a cycle.
    pub public_base_url: Option<String>,
    pub mail_from: String,
    pub sms_sender_id: String,
    /// The embedded backend's outbox (JSON lines).
    pub outbox_path: PathBuf,
    pub otp_ttl: Duration,
    pub verify_ttl: Duration,
    /// The link a password-reset mail carries: an absolute http(s) URL of the client
    /// application's page with `{token}` where the token goes (`PASSWORD_RESET_URL`, as
    /// djoser's `PASSWORD_RESET_CONFIRM_URL`); unset, a link to this API's confirm route.
    pub password_reset_url: Option<String>,
    /// How long a password-reset link works (`PASSWORD_RESET_TTL_SECS`).
    pub password_reset_ttl: Duration,
    /// The least time a password-reset request takes to answer (`PASSWORD_RESET_MIN_ANSWER_MS`),
    /// whether or not a link is stored and mailed: longer than a store write and a mail send, so
    /// the time taken does not tell whether the address has an account.
    pub password_reset_min_answer: Duration,
    /// How long an account may stay unverified before it counts as gone (its e-mail, username
    /// and customer id claim are then free).
    pub unverified_ttl: Duration,
    /// The private S3 bucket of avatars and uploads.
    pub bucket_name: String,
    /// Path-style S3 addressing (for emulators on 127.0.0.1).
    pub s3_force_path_style: bool,
    /// The embedded backend's blob directory.
    pub blob_dir: PathBuf,
    /// How long a download URL works.
    pub blob_url_ttl: Duration,
    pub avatar_max_bytes: usize,
    pub upload_max_bytes: usize,
    /// How long an SQLite writer waits for another's lock before answering 503.
    pub sqlite_busy_timeout: Duration,
    /// Multiplies every throttling limit (load tests raise it; 1 in production).
    pub throttle_multiplier: u64,
    /// The local gateway cuts off a request body not fully received by then.
    pub request_body_timeout: Duration,
    /// The time expiries are judged by (`Ctx::now`): the system's, moved only by tests.
    pub clock: crate::clock::Clock,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys (signing sets, HMAC keys) stay out of any log line a Debug could reach.
        f.debug_struct("Config")
            .field("backend", &self.backend)
            .field("table_name", &self.table_name)
            .field("counter_table_name", &self.counter_table_name)
            .field("public_base_url", &self.public_base_url)
            .field("signing_keys_arn", &self.signing_keys_arn)
            .field("otp_key_arn", &self.otp_key_arn)
            .field("dashboard_key_arn", &self.dashboard_key_arn)
            .finish_non_exhaustive()
    }
}

/// A configuration value that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// The shortest HMAC key accepted (code hashes, the dashboard cookie, local download URLs).
pub const MIN_SECRET_BYTES: usize = 32;

/// The writes a second one partition of counts is planned for: half DynamoDB's limit of 1,000
/// write units a second per partition key, for the imbalance of random parts and for bursts.
pub const WRITES_PER_PART: u64 = 500;

impl Config {
    /// How many partitions each hour's counts spread over: enough that the target rate puts at
    /// most [`WRITES_PER_PART`] writes a second on each.
    pub fn counter_parts(&self) -> u32 {
        self.counter_target_rps.div_ceil(WRITES_PER_PART).max(1) as u32
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let backend = match lookup("BACKEND").as_deref().unwrap_or("embedded") {
            "aws" => Backend::Aws,
            "embedded" => Backend::Embedded {
                database_path: lookup("DATABASE_PATH")
                    .unwrap_or_else(|| ".local/api.db".into())
                    .into(),
            },
            other => {
                return Err(ConfigError {
                    name: "BACKEND",
                    problem: format!("expected `aws` or `embedded`, got `{other}`"),
                })
            }
        };
        let key = |name: &'static str| -> Result<Option<Vec<u8>>, ConfigError> {
            lookup(name)
                .filter(|v| !v.is_empty())
                .map(|v| validate_secret(name, v.into_bytes()))
                .transpose()
        };
        let key_set = |name: &'static str| -> Result<Option<KeySet>, ConfigError> {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    KeySet::parse(v.trim()).map_err(|e| ConfigError {
                        name,
                        problem: e.to_string(),
                    })
                })
                .transpose()
        };
        let arn = |name: &str| lookup(name).filter(|a| !a.is_empty());
        let mut config = Config {
            backend,
            table_name: lookup("TABLE_NAME").unwrap_or_else(|| "fintract-main".into()),
            counter_table_name: lookup("COUNTER_TABLE_NAME")
                .unwrap_or_else(|| "fintract-counters".into()),
            signing_keys: key_set("JWT_SIGNING_KEYS")?,
            signing_keys_arn: arn("JWT_SIGNING_KEYS_ARN"),
            signing_keys_file: arn("JWT_SIGNING_KEYS_FILE").map(PathBuf::from),
            public_keys: lookup("JWT_PUBLIC_KEYS")
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    KeySet::parse_public(v.trim()).map_err(|e| ConfigError {
                        name: "JWT_PUBLIC_KEYS",
                        problem: e.to_string(),
                    })
                })
                .transpose()?,
            otp_key: key("OTP_KEY")?,
            otp_key_arn: arn("OTP_KEY_ARN"),
            dashboard_key: key("DASHBOARD_KEY")?,
            dashboard_key_arn: arn("DASHBOARD_KEY_ARN"),
            blob_url_key: key("BLOB_URL_KEY")?,
            access_ttl: Duration::from_secs(seconds(&lookup, "ACCESS_TOKEN_TTL_SECS", 300)?),
            refresh_ttl: Duration::from_secs(seconds(&lookup, "REFRESH_TOKEN_TTL_SECS", 86_400)?),
            session_max: Duration::from_secs(seconds(
                &lookup,
                "SESSION_MAX_SECS",
                DEFAULT_SESSION_MAX_SECS,
            )?),
            counter_target_rps: seconds(&lookup, "COUNTER_TARGET_RPS", 1_000)?.min(10_000_000),
            emf_metrics: match lookup("METRICS_EMF").as_deref() {
                Some("true" | "1") => true,
                Some("false" | "0") => false,
                Some(_) => {
                    return Err(ConfigError {
                        name: "METRICS_EMF",
                        problem: "must be true or false".into(),
                    })
                }
                None => lookup("AWS_LAMBDA_RUNTIME_API").is_some(),
            },
            metrics_namespace: lookup("METRICS_NAMESPACE")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "Fintract/API".into()),
            public_base_url: base_url(lookup("PUBLIC_BASE_URL"))?,
            mail_from: lookup("MAIL_FROM").unwrap_or_else(|| "no-reply@fintract.local".into()),
            sms_sender_id: lookup("SMS_SENDER_ID").unwrap_or_else(|| "Fintract".into()),
            outbox_path: lookup("OUTBOX_PATH")
                .unwrap_or_else(|| ".local/outbox.jsonl".into())
                .into(),
            otp_ttl: Duration::from_secs(seconds(&lookup, "OTP_TTL_SECS", 300)?),
            verify_ttl: Duration::from_secs(seconds(&lookup, "VERIFY_TTL_SECS", 86_400)?),
            password_reset_url: reset_url(lookup("PASSWORD_RESET_URL"))?,
            password_reset_ttl: Duration::from_secs(seconds(
                &lookup,
                "PASSWORD_RESET_TTL_SECS",
                3600,
            )?),
            password_reset_min_answer: Duration::from_millis(seconds(
                &lookup,
                "PASSWORD_RESET_MIN_ANSWER_MS",
                PASSWORD_RESET_MIN_ANSWER_MS,
            )?),
            unverified_ttl: Duration::from_secs(seconds(
                &lookup,
                "UNVERIFIED_TTL_SECS",
                UNVERIFIED_TTL_SECS,
            )?),
            bucket_name: lookup("BUCKET_NAME").unwrap_or_else(|| "fintract-uploads".into()),
            s3_force_path_style: lookup("S3_FORCE_PATH_STYLE")
                .is_some_and(|v| v == "true" || v == "1"),
            blob_dir: lookup("BLOB_DIR")
                .unwrap_or_else(|| ".local/blobs".into())
                .into(),
            blob_url_ttl: Duration::from_secs(seconds(&lookup, "BLOB_URL_TTL_SECS", 900)?),
            avatar_max_bytes: seconds(&lookup, "AVATAR_MAX_BYTES", 4 << 20)? as usize,
            upload_max_bytes: seconds(&lookup, "UPLOAD_MAX_BYTES", 4 << 20)? as usize,
            sqlite_busy_timeout: Duration::from_millis(seconds(
                &lookup,
                "SQLITE_BUSY_TIMEOUT_MS",
                5000,
            )?),
            throttle_multiplier: seconds(&lookup, "THROTTLE_MULTIPLIER", 1)?,
            request_body_timeout: Duration::from_secs(seconds(
                &lookup,
                "REQUEST_BODY_TIMEOUT_SECS",
                30,
            )?),
            clock: Default::default(),
        };
        // On a laptop, one secret stands for every key (`make run`, `make invoke`).
        if let Some(secret) = key("LOCAL_SECRET")? {
            config.fill_from_local_secret(&secret);
        }
        Ok(config)
    }

    /// Fills every key not configured otherwise with one derived from a local `secret`.
    pub fn fill_from_local_secret(&mut self, secret: &[u8]) {
        if self.signing_keys.is_none()
            && self.signing_keys_arn.is_none()
            && self.signing_keys_file.is_none()
        {
            self.signing_keys = Some(derived_signing_keys(secret));
        }
        if self.otp_key.is_none() && self.otp_key_arn.is_none() {
            self.otp_key = Some(derived_key(secret, "otp"));
        }
        if self.dashboard_key.is_none() && self.dashboard_key_arn.is_none() {
            self.dashboard_key = Some(derived_key(secret, "dashboard"));
        }
        if self.blob_url_key.is_none() {
            self.blob_url_key = Some(derived_key(secret, "blob-url"));
        }
    }

    /// An embedded configuration for tests and the local gateway, every key derived from
    /// `secret` (one process holds them all there; ARCHITECTURE.md §6).
    pub fn embedded(database_path: impl Into<PathBuf>, secret: Vec<u8>) -> Self {
        let database_path: PathBuf = database_path.into();
        Config {
            outbox_path: database_path.with_file_name("outbox.jsonl"),
            blob_dir: database_path.with_file_name("blobs"),
            bucket_name: "fintract-uploads".into(),
            s3_force_path_style: false,
            blob_url_ttl: Duration::from_secs(900),
            avatar_max_bytes: 4 << 20,
            upload_max_bytes: 4 << 20,
            sqlite_busy_timeout: Duration::from_secs(5),
            throttle_multiplier: 1,
            request_body_timeout: Duration::from_secs(30),
            public_base_url: Some(LOCAL_BASE_URL.into()),
            mail_from: "no-reply@fintract.local".into(),
            sms_sender_id: "Fintract".into(),
            otp_ttl: Duration::from_secs(300),
            verify_ttl: Duration::from_secs(86_400),
            password_reset_url: None,
            password_reset_ttl: Duration::from_secs(3600),
            password_reset_min_answer: Duration::from_millis(PASSWORD_RESET_MIN_ANSWER_MS),
            unverified_ttl: Duration::from_secs(UNVERIFIED_TTL_SECS),
            backend: Backend::Embedded { database_path },
            table_name: "fintract-main".into(),
            counter_table_name: "fintract-counters".into(),
            signing_keys: Some(derived_signing_keys(&secret)),
            signing_keys_arn: None,
            signing_keys_file: None,
            public_keys: None,
            otp_key: Some(derived_key(&secret, "otp")),
            otp_key_arn: None,
            dashboard_key: Some(derived_key(&secret, "dashboard")),
            dashboard_key_arn: None,
            blob_url_key: Some(derived_key(&secret, "blob-url")),
            access_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(86_400),
            session_max: Duration::from_secs(DEFAULT_SESSION_MAX_SECS),
            counter_target_rps: 1_000,
            emf_metrics: false,
            metrics_namespace: "Fintract/API".into(),
            clock: Default::default(),
        }
    }
}

/// A login ends 30 days after its sign-in, however often it is refreshed.
pub const DEFAULT_SESSION_MAX_SECS: u64 = 30 * 86_400;

/// A password-reset request answers after 750 ms at the least: a DynamoDB write and an SES send
/// take well under that in a Region, so a known and an unknown address take as long.
pub const PASSWORD_RESET_MIN_ANSWER_MS: u64 = 750;

/// Three days to open the verification link (it lives one; re-verify sends another).
pub const UNVERIFIED_TTL_SECS: u64 = 3 * 86_400;

/// Where the local gateway serves by default.
pub const LOCAL_BASE_URL: &str = "http://127.0.0.1:3000";

/// A configured base URL: absolute http(s), no query, kept without its trailing slash; an empty
/// value (the template's default parameter) is no value.
fn base_url(value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value.map(|v| v.trim().trim_end_matches('/').to_string()) else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(['?', '#', ' ']) =>
        {
            Ok(Some(value))
        }
        _ => Err(ConfigError {
            name: "PUBLIC_BASE_URL",
            problem: format!("expected an absolute http(s) URL without a query, got `{value}`"),
        }),
    }
}

/// The password-reset link template: an absolute http(s) URL holding `{token}` exactly once;
/// an empty value is no value.
fn reset_url(value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let absolute = ["https://", "http://"].iter().any(|p| {
        value
            .strip_prefix(p)
            .is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
    });
    if absolute && value.matches("{token}").count() == 1 && !value.contains(' ') {
        Ok(Some(value))
    } else {
        Err(ConfigError {
            name: "PASSWORD_RESET_URL",
            problem: format!(
                "expected an absolute http(s) URL with {{token}} in it once, got `{value}`"
            ),
        })
    }
}

/// A key for one purpose, derived from a local secret (HMAC-SHA256 of the purpose's name).
pub fn derived_key(secret: &[u8], purpose: &str) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = crate::crypto::hmac(secret);
    mac.update(format!("fintract-{purpose}-v1").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A one-key signing set derived from a local secret (tests sign with it as an issuer would).
pub fn derived_signing_keys(secret: &[u8]) -> KeySet {
    let seed: [u8; 32] = derived_key(secret, "signing").try_into().unwrap_or([0; 32]);
    // A 32-byte seed is always a valid Ed25519 key.
    KeySet::single(KeyEntry::from_seed(&seed, 0).expect("an Ed25519 seed"))
}

/// Refuses keys too short for HMAC-SHA256.
pub fn validate_secret(name: &'static str, secret: Vec<u8>) -> Result<Vec<u8>, ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError {
            name,
            problem: format!("must be at least {MIN_SECRET_BYTES} bytes"),
        });
    }
    Ok(secret)
}

fn seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError {
                name,
                problem: format!("expected a positive whole number, got `{v}`"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_the_embedded_backend_with_published_token_lifetimes() {
        let c = cfg(&[]).unwrap();
        assert!(matches!(c.backend, Backend::Embedded { .. }));
        assert_eq!(c.access_ttl, Duration::from_secs(300));
        assert_eq!(c.refresh_ttl, Duration::from_secs(86_400));
        assert_eq!(c.session_max, Duration::from_secs(30 * 86_400));
        assert!(c.signing_keys.is_none() && c.otp_key.is_none());
    }

    #[test]
    fn short_keys_and_malformed_key_sets_are_refused() {
        for name in ["OTP_KEY", "DASHBOARD_KEY", "BLOB_URL_KEY"] {
            assert_eq!(cfg(&[(name, "too-short")]).unwrap_err().name, name);
        }
        for name in ["JWT_SIGNING_KEYS", "JWT_PUBLIC_KEYS"] {
            assert_eq!(cfg(&[(name, "{\"keys\":[{}]}")]).unwrap_err().name, name);
        }
        let set = derived_signing_keys(b"a local secret of thirty-two bytes!");
        // The signing set itself (private parts) is refused where public keys are expected.
        assert_eq!(
            cfg(&[("JWT_PUBLIC_KEYS", &set.to_json())])
                .unwrap_err()
                .name,
            "JWT_PUBLIC_KEYS"
        );
        let c = cfg(&[("JWT_PUBLIC_KEYS", &set.jwks().to_string())]).unwrap();
        assert_eq!(c.public_keys.unwrap().keys[0].kid, set.keys[0].kid);
    }

    #[test]
    fn an_unknown_backend_or_bad_number_is_refused() {
        assert_eq!(cfg(&[("BACKEND", "mysql")]).unwrap_err().name, "BACKEND");
        assert_eq!(
            cfg(&[("ACCESS_TOKEN_TTL_SECS", "-5")]).unwrap_err().name,
            "ACCESS_TOKEN_TTL_SECS"
        );
    }

    #[test]
    fn the_reset_link_template_is_optional_absolute_and_holds_the_token_once() {
        assert_eq!(cfg(&[]).unwrap().password_reset_url, None);
        assert_eq!(
            cfg(&[("PASSWORD_RESET_URL", " ")])
                .unwrap()
                .password_reset_url,
            None
        );
        let good = "https://app.example/reset/{token}?from=mail";
        assert_eq!(
            cfg(&[("PASSWORD_RESET_URL", good)])
                .unwrap()
                .password_reset_url
                .as_deref(),
            Some(good)
        );
        for bad in [
            "https://app.example/reset",
            "/reset/{token}",
            "javascript:{token}",
            "https://app.example/{token}/{token}",
            "https:///{token}",
        ] {
            assert!(cfg(&[("PASSWORD_RESET_URL", bad)]).is_err(), "{bad}");
        }
        assert_eq!(
            cfg(&[]).unwrap().password_reset_ttl,
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn the_public_base_url_is_optional_absolute_and_kept_without_its_slash() {
        assert_eq!(cfg(&[]).unwrap().public_base_url, None);
        assert_eq!(
            cfg(&[("PUBLIC_BASE_URL", "")]).unwrap().public_base_url,
            None
        );
        assert_eq!(
            cfg(&[("PUBLIC_BASE_URL", "https://api.bank.example/fintract/")])
                .unwrap()
                .public_base_url
                .as_deref(),
            Some("https://api.bank.example/fintract")
        );
        for bad in ["api.bank.example", "ftp://x", "https://", "https://x/?a=1"] {
            assert_eq!(
                cfg(&[("PUBLIC_BASE_URL", bad)]).unwrap_err().name,
                "PUBLIC_BASE_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_shows_no_key() {
        let c = Config::embedded("x.db", b"a local secret of thirty-two bytes!".to_vec());
        let shown = format!("{c:?}");
        let d = c.signing_keys.as_ref().unwrap().keys[0].d.clone().unwrap();
        assert!(!shown.contains(&d), "{shown}");
        let otp = crate::crypto::hex(c.otp_key.as_deref().unwrap());
        assert!(
            !shown.contains(&otp) && !shown.contains("otp_key:"),
            "{shown}"
        );
    }

    #[test]
    fn aws_backend_reads_table_names() {
        let c = cfg(&[("BACKEND", "aws"), ("TABLE_NAME", "t1")]).unwrap();
        assert_eq!(c.backend, Backend::Aws);
        assert_eq!(c.table_name, "t1");
    }
}
