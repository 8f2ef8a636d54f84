//! Configuration, read once per cold start from environment variables (documented in README).

use std::path::PathBuf;
use std::time::Duration;

/// Which adapters the ports use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// DynamoDB, S3, SES and SNS through the AWS SDK (honours `AWS_ENDPOINT_URL`).
    Aws,
    /// SQLite file, local blob directory and outbox: no AWS account needed.
    Embedded { database_path: PathBuf },
}

/// Everything a function reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub backend: Backend,
    pub table_name: String,
    pub counter_table_name: String,
    pub jwt_secret: Option<Vec<u8>>,
    /// Where the signing key lives in AWS (read once at cold start when `JWT_SECRET` is unset).
    pub jwt_secret_arn: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub counter_shards: u32,
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

/// A configuration value that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// The shortest HS256 secret accepted (ARCHITECTURE.md §6).
pub const MIN_SECRET_BYTES: usize = 32;

impl Config {
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
        let jwt_secret = match lookup("JWT_SECRET") {
            Some(s) => Some(validate_secret(s.into_bytes())?),
            None => None,
        };
        Ok(Config {
            backend,
            table_name: lookup("TABLE_NAME").unwrap_or_else(|| "fintract-main".into()),
            counter_table_name: lookup("COUNTER_TABLE_NAME")
                .unwrap_or_else(|| "fintract-counters".into()),
            jwt_secret,
            jwt_secret_arn: lookup("JWT_SECRET_ARN").filter(|a| !a.is_empty()),
            access_ttl: Duration::from_secs(seconds(&lookup, "ACCESS_TOKEN_TTL_SECS", 300)?),
            refresh_ttl: Duration::from_secs(seconds(&lookup, "REFRESH_TOKEN_TTL_SECS", 86_400)?),
            counter_shards: seconds(&lookup, "COUNTER_SHARDS", 4)?.clamp(1, 64) as u32,
            public_base_url: base_url(lookup("PUBLIC_BASE_URL"))?,
            mail_from: lookup("MAIL_FROM").unwrap_or_else(|| "no-reply@fintract.local".into()),
            sms_sender_id: lookup("SMS_SENDER_ID").unwrap_or_else(|| "Fintract".into()),
            outbox_path: lookup("OUTBOX_PATH")
                .unwrap_or_else(|| ".local/outbox.jsonl".into())
                .into(),
            otp_ttl: Duration::from_secs(seconds(&lookup, "OTP_TTL_SECS", 300)?),
            verify_ttl: Duration::from_secs(seconds(&lookup, "VERIFY_TTL_SECS", 86_400)?),
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
        })
    }

    /// An embedded configuration for tests and the local gateway.
    pub fn embedded(database_path: impl Into<PathBuf>, jwt_secret: Vec<u8>) -> Self {
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
            unverified_ttl: Duration::from_secs(UNVERIFIED_TTL_SECS),
            backend: Backend::Embedded { database_path },
            table_name: "fintract-main".into(),
            counter_table_name: "fintract-counters".into(),
            jwt_secret: Some(jwt_secret),
            jwt_secret_arn: None,
            access_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(86_400),
            counter_shards: 4,
            clock: Default::default(),
        }
    }
}

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

/// Refuses secrets too short for HS256.
pub fn validate_secret(secret: Vec<u8>) -> Result<Vec<u8>, ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError {
            name: "JWT_SECRET",
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
        assert!(c.jwt_secret.is_none());
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let err = cfg(&[("JWT_SECRET", "too-short")]).unwrap_err();
        assert_eq!(err.name, "JWT_SECRET");
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
    fn aws_backend_reads_table_names() {
        let c = cfg(&[("BACKEND", "aws"), ("TABLE_NAME", "t1")]).unwrap();
        assert_eq!(c.backend, Backend::Aws);
        assert_eq!(c.table_name, "t1");
    }
}
