//! Test harness: `TestApp::spawn(backend)` starts an isolated gateway on a free port, either on a
//! fresh SQLite file or on fresh DynamoDB tables in a shared `moto_server` process, seeds the demo
//! data, and offers one helper per endpoint.

pub mod moto;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use shared::config::{Backend as ConfigBackend, Config};
use shared::store::schema::{COUNTER_TABLE, MAIN_TABLE};
use shared::Ctx;

pub use local::demo;

/// Which adapters a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Aws,
}

/// A running gateway and what a test needs to reach behind it.
pub struct TestApp {
    pub base: String,
    pub ctx: Arc<Ctx>,
    pub backend: Backend,
    pub client: reqwest::Client,
    /// The tables' names on the AWS backend.
    pub tables: Option<(String, String)>,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A response read whole: status, headers and the body as JSON (or `Null`).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `error` message of an error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

/// The signing secret every test app uses, so tests can forge tokens the way an attacker can't.
pub const TEST_SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Configuration for a test app on `backend`.
pub fn test_config(backend: Backend, dir: &std::path::Path) -> Config {
    let mut config = Config::embedded(dir.join("api.db"), TEST_SECRET.to_vec());
    if backend == Backend::Aws {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("t{}-{n}", std::process::id());
        config.backend = ConfigBackend::Aws;
        config.table_name = format!("{prefix}-main");
        config.counter_table_name = format!("{prefix}-counters");
    }
    config
}

impl TestApp {
    /// A gateway on `backend` with the demo data seeded.
    pub async fn spawn(backend: Backend) -> TestApp {
        let app = Self::spawn_empty(backend).await;
        local::demo::seed(&app.ctx)
            .await
            .expect("seeding the demo data");
        app
    }

    /// A gateway on `backend` with empty stores.
    pub async fn spawn_empty(backend: Backend) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = test_config(backend, dir.path());
        let (ctx, tables) = match backend {
            Backend::Embedded => (Ctx::embedded(config).expect("embedded context"), None),
            Backend::Aws => {
                let sdk = moto::sdk_config().await;
                let client = aws_sdk_dynamodb::Client::new(&sdk);
                MAIN_TABLE
                    .create(&client, &config.table_name)
                    .await
                    .expect("main table");
                COUNTER_TABLE
                    .create(&client, &config.counter_table_name)
                    .await
                    .expect("counter table");
                let tables = Some((config.table_name.clone(), config.counter_table_name.clone()));
                (Ctx::aws(config, &sdk).expect("aws context"), tables)
            }
        };
        let ctx = Arc::new(ctx);
        let (addr, server) = local::spawn(ctx.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the gateway");
        TestApp {
            base: format!("http://{addr}"),
            ctx,
            backend,
            client: reqwest::Client::new(),
            tables,
            _dir: dir,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends any request and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// POSTs `body` as JSON, with a bearer token if given.
    pub async fn post_json(&self, path: &str, body: &Value, bearer: Option<&str>) -> Answer {
        let mut r = self.client.post(self.url(path)).json(body);
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        self.send(r).await
    }

    /// POSTs raw bytes with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        bearer: Option<&str>,
    ) -> Answer {
        let mut r = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        self.send(r).await
    }

    /// `POST /token/` as JSON.
    pub async fn token(&self, username: &str, password: &str) -> Answer {
        self.post_json(
            "/token/",
            &json!({"username": username, "password": password}),
            None,
        )
        .await
    }

    /// A demo user's access token, or a panic naming why not.
    pub async fn access_token(&self, user: &demo::DemoUser) -> String {
        let a = self.token(user.username, user.password).await;
        assert_eq!(a.status, 200, "token for {}: {:?}", user.username, a.body);
        a.body["access"].as_str().expect("access").to_string()
    }

    /// `POST /token/refresh/`.
    pub async fn refresh(&self, refresh: &str) -> Answer {
        self.post_json("/token/refresh/", &json!({ "refresh": refresh }), None)
            .await
    }

    /// `POST /api/accounts/loans/` with the token in `Authorization: Bearer`.
    pub async fn loans(&self, account_number: &str, bearer: Option<&str>) -> Answer {
        self.post_json(
            "/api/accounts/loans/",
            &json!({ "account_number": account_number }),
            bearer,
        )
        .await
    }
}

/// Declares each listed `async fn(TestApp)` as a test on both backends:
/// `<module>::embedded::<name>` and `<module>::aws::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestApp::spawn($crate::Backend::Embedded).await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestApp::spawn($crate::Backend::Aws).await).await
                }
            )*
        }
    };
}
