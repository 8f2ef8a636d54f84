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
//! | `signing` | `sign_token` and `verify_token`: the token keys, kept fresh |
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
use crate::config::{validate_secret, Backend, Config, ConfigError};
use crate::keys::KeySet;
use crate::notify::{AwsNotifier, Notifier, Outbox};
use crate::signing::{SigningSource, TokenKeys};
use crate::store::dynamo::DynamoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{DataStore, StoreError};

/// What every handler gets: configuration, the data ports and the token keys it may hold.
pub struct Ctx {
    pub config: Config,
    pub store: Arc<dyn DataStore>,
    pub notifier: Arc<dyn Notifier>,
    pub blobs: Arc<dyn Blobs>,
    pub(crate) token_keys: TokenKeys,
    /// Whether this process has recorded how many parts it counts over (`metrics::count`):
    /// 0 not yet, 1 being recorded, 2 recorded.
    pub(crate) parts_noted: std::sync::atomic::AtomicU8,
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
}

/// Reads the string of the secret `arn` (the configuration variable `name` named it).
async fn fetch_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &'static str,
    arn: &str,
) -> Result<String, InitError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError {
            name,
            problem: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    let secret = out.secret_string().ok_or(ConfigError {
        name,
        problem: "the secret has no string value".into(),
    })?;
    Ok(secret.trim().to_string())
}

/// Reads a signing set from the local file the configuration names, if it holds none yet.
fn read_signing_file(config: &mut Config) -> Result<(), ConfigError> {
    if let (None, Some(path)) = (&config.signing_keys, &config.signing_keys_file) {
        let problem = |e: String| ConfigError {
            name: "JWT_SIGNING_KEYS_FILE",
            problem: format!("{}: {e}", path.display()),
        };
        let json = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
        config.signing_keys = Some(KeySet::parse(json.trim()).map_err(|e| problem(e.to_string()))?);
    }
    Ok(())
}

/// An SDK client built on its first use, not at cold start: each client's construction costs
/// about 0.2 ms of CPU (3 ms at a 128 MB Lambda's share), and most functions never send mail or
/// touch S3 (`make bench`, production path; ARCHITECTURE.md §10).
pub struct LazyClient<C> {
    make: Box<dyn Fn() -> C + Send + Sync>,
    client: std::sync::OnceLock<C>,
}

impl<C> LazyClient<C> {
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        LazyClient {
            make: Box::new(make),
            client: std::sync::OnceLock::new(),
        }
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.make)())
    }
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

    /// The AWS adapters, first reading from Secrets Manager each key the configuration names
    /// by ARN (a function's template grants it exactly those), all at once.
    pub async fn aws_with_secret(mut config: Config, sdk: &SdkConfig) -> Result<Self, InitError> {
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        let wanted = |held: bool, arn: &Option<String>| arn.clone().filter(|_| !held);
        let fetch = |name: &'static str, arn: Option<String>| {
            let client = client.clone();
            async move {
                match arn {
                    Some(arn) => fetch_secret(&client, name, &arn).await.map(Some),
                    None => Ok(None),
                }
            }
        };
        let (signing, otp, dashboard) = futures::try_join!(
            fetch(
                "JWT_SIGNING_KEYS_ARN",
                wanted(config.signing_keys.is_some(), &config.signing_keys_arn)
            ),
            fetch(
                "OTP_KEY_ARN",
                wanted(config.otp_key.is_some(), &config.otp_key_arn)
            ),
            fetch(
                "DASHBOARD_KEY_ARN",
                wanted(config.dashboard_key.is_some(), &config.dashboard_key_arn)
            ),
        )?;
        if let Some(json) = signing {
            config.signing_keys = Some(KeySet::parse(&json).map_err(|e| ConfigError {
                name: "JWT_SIGNING_KEYS_ARN",
                problem: e.to_string(),
            })?);
        }
        if let Some(key) = otp {
            config.otp_key = Some(validate_secret("OTP_KEY_ARN", key.into_bytes())?);
        }
        if let Some(key) = dashboard {
            config.dashboard_key = Some(validate_secret("DASHBOARD_KEY_ARN", key.into_bytes())?);
        }
        read_signing_file(&mut config)?;
        Self::aws(config, sdk)
    }

    /// The AWS adapters, on an SDK configuration the caller built (tests point it at moto).
    pub fn aws(config: Config, sdk: &SdkConfig) -> Result<Self, InitError> {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
            config.counter_table_name.clone(),
        );
        let (ses, sns, s3) = (sdk.clone(), sdk.clone(), sdk.clone());
        let notifier = AwsNotifier {
            ses: LazyClient::new(move || aws_sdk_sesv2::Client::new(&ses)),
            sns: LazyClient::new(move || aws_sdk_sns::Client::new(&sns)),
            from: config.mail_from.clone(),
            sms_sender_id: config.sms_sender_id.clone(),
        };
        let path_style = config.s3_force_path_style;
        let blobs = S3Blobs {
            client: LazyClient::new(move || {
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&s3)
                        .force_path_style(path_style)
                        .build(),
                )
            }),
            bucket: config.bucket_name.clone(),
        };
        let source = match &config.signing_keys_arn {
            Some(arn) => SigningSource::Secret {
                client: aws_sdk_secretsmanager::Client::new(sdk),
                arn: arn.clone(),
            },
            None => SigningSource::None,
        };
        Self::with_source(
            config,
            Arc::new(store),
            Arc::new(notifier),
            Arc::new(blobs),
            source,
        )
    }

    /// The embedded adapters: the SQLite file named in the configuration.
    pub fn embedded(mut config: Config) -> Result<Self, InitError> {
        read_signing_file(&mut config)?;
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
            config.blob_url_key.clone().unwrap_or_default(),
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
        let source = match &config.signing_keys_file {
            Some(path) => SigningSource::File(path.clone()),
            None => SigningSource::None,
        };
        Self::with_source(config, store, notifier, blobs, source)
    }

    /// Any adapters, and where the signing set is re-read from.
    pub fn with_source(
        config: Config,
        store: Arc<dyn DataStore>,
        notifier: Arc<dyn Notifier>,
        blobs: Arc<dyn Blobs>,
        source: SigningSource,
    ) -> Result<Self, InitError> {
        let token_keys = TokenKeys::new(&config, source, config.clock.now())?;
        Ok(Ctx {
            token_keys,
            config,
            store,
            notifier,
            blobs,
            parts_noted: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::LazyClient;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_lazy_client_is_built_on_first_use_and_only_once() {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let client = LazyClient::new(move || counter.fetch_add(1, Ordering::SeqCst) + 100);
        assert_eq!(
            built.load(Ordering::SeqCst),
            0,
            "nothing built at cold start"
        );
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| assert_eq!(*client.get(), 100));
            }
        });
        assert_eq!(built.load(Ordering::SeqCst), 1);
    }
}
