//! The context a function builds once per cold start and shares across invocations.
//!
//! This module defines [`Ctx`] and how it is built, and nothing else. The rule for its methods:
//! each capability adds its own, in its own module, so that a handler's `ctx.x()` is found where
//! the idea lives:
//!
//! | module | what it adds to `Ctx` |
//! |---|---|
//! | `clock` | `now`: the time every expiry is judged by |
//! | `auth` | issuing and rotating token pairs; `authenticate`, `verify_access`, `live_user` |
//! | `otp` | issuing and redeeming sign-in codes |
//! | `roles` | who may act on whom; the last-Fintract-admin guard |
//! | `claims` | the approver, and the accounts claiming a customer id |
//! | `users` | an account's lifecycle: `modify_user`, expiry, deletion, net balance |
//! | `throttle` | attempt budgets per key and per source |
//! | `verification` | the verification link and the public base URL it is built on |
//! | `views` | the avatar URL a profile shows |
//! | `blob` | removing a user's objects |

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::blob::{Blobs, LocalBlobs, S3Blobs};
use crate::config::{Backend, Config, ConfigError};
use crate::jwt::JwtKeys;
use crate::notify::{AwsNotifier, Notifier, Outbox};
use crate::store::dynamo::DynamoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{DataStore, StoreError};

/// What every handler gets: configuration, the data ports and the signing key.
pub struct Ctx {
    pub config: Config,
    pub store: Arc<dyn DataStore>,
    pub notifier: Arc<dyn Notifier>,
    pub blobs: Arc<dyn Blobs>,
    pub jwt: JwtKeys,
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
}

/// Reads the signing key (the secret's string) and checks its length.
async fn fetch_secret(sdk: &SdkConfig, arn: &str) -> Result<Vec<u8>, InitError> {
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError {
            name: "JWT_SECRET_ARN",
            problem: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    let secret = out.secret_string().ok_or(ConfigError {
        name: "JWT_SECRET_ARN",
        problem: "the secret has no string value".into(),
    })?;
    Ok(crate::config::validate_secret(
        secret.trim().as_bytes().to_vec(),
    )?)
}

/// Explicit SDK timeouts and retries: a backend that hangs costs at most a few seconds.
pub fn sdk_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// The SDK configuration of the environment (region, credentials, `AWS_ENDPOINT_URL`) with our
/// timeouts and retries.
pub async fn aws_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(sdk_timeouts())
        .retry_config(sdk_retries())
        .load()
        .await
}

/// Standard retry mode, three attempts in all.
pub fn sdk_retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

impl Ctx {
    /// Reads the environment and builds the adapters it names (the Lambda cold start path).
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env()?;
        match config.backend {
            Backend::Aws => Self::aws_with_secret(config, &aws_sdk_config().await).await,
            Backend::Embedded { .. } => Self::embedded(config),
        }
    }

    /// The AWS adapters, fetching the signing key from Secrets Manager first when the
    /// configuration names a secret instead of holding a key.
    pub async fn aws_with_secret(mut config: Config, sdk: &SdkConfig) -> Result<Self, InitError> {
        if config.jwt_secret.is_none() {
            if let Some(arn) = config.jwt_secret_arn.clone() {
                config.jwt_secret = Some(fetch_secret(sdk, &arn).await?);
            }
        }
        Self::aws(config, sdk)
    }

    /// The AWS adapters, on an SDK configuration the caller built (tests point it at moto).
    pub fn aws(config: Config, sdk: &SdkConfig) -> Result<Self, InitError> {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
            config.counter_table_name.clone(),
        );
        let notifier = AwsNotifier {
            ses: aws_sdk_sesv2::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            from: config.mail_from.clone(),
            sms_sender_id: config.sms_sender_id.clone(),
        };
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(config.s3_force_path_style)
            .build();
        let blobs = S3Blobs {
            client: aws_sdk_s3::Client::from_conf(s3),
            bucket: config.bucket_name.clone(),
        };
        Self::with_ports(config, Arc::new(store), Arc::new(notifier), Arc::new(blobs))
    }

    /// The embedded adapters: the SQLite file named in the configuration.
    pub fn embedded(config: Config) -> Result<Self, InitError> {
        let store = match &config.backend {
            Backend::Embedded { database_path } => {
                SqliteStore::open(database_path, config.sqlite_busy_timeout)?
            }
            Backend::Aws => {
                return Err(InitError::Config(ConfigError {
                    name: "BACKEND",
                    problem: "the embedded context needs BACKEND=embedded".into(),
                }))
            }
        };
        let outbox = Outbox::new(config.outbox_path.clone());
        let blobs = LocalBlobs::new(
            config.blob_dir.clone(),
            config
                .public_base_url
                .clone()
                .unwrap_or_else(|| crate::config::LOCAL_BASE_URL.into()),
            config.jwt_secret.clone().unwrap_or_default(),
        );
        Self::with_ports(config, Arc::new(store), Arc::new(outbox), Arc::new(blobs))
    }

    /// Any combination of adapters (tests swap one for a faulty one).
    pub fn with_ports(
        config: Config,
        store: Arc<dyn DataStore>,
        notifier: Arc<dyn Notifier>,
        blobs: Arc<dyn Blobs>,
    ) -> Result<Self, InitError> {
        let secret = config.jwt_secret.clone().ok_or(ConfigError {
            name: "JWT_SECRET",
            problem: "not set (nor JWT_SECRET_ARN in AWS)".into(),
        })?;
        Ok(Ctx {
            jwt: JwtKeys::new(secret),
            config,
            store,
            notifier,
            blobs,
        })
    }
}
