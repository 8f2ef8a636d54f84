//! Test harness: `TestApp::spawn(backend)` starts an isolated gateway on a free port, either on a
//! fresh SQLite file or on fresh DynamoDB tables in a shared `moto_server` process, seeds the demo
//! data, and offers one helper per endpoint.

pub mod chromium;
pub mod contract;
pub mod gate;
pub mod iam;
pub mod moto;
pub mod rehearsal;
pub mod runtime_api;

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
    /// The AWS adapters on an emulator that enforces IAM, each route served with the identity
    /// of its function's policy (see [`iam`]); set-up and helpers act as an administrator.
    AwsIam,
}

/// A running gateway and what a test needs to reach behind it.
pub struct TestApp {
    pub base: String,
    pub ctx: Arc<Ctx>,
    pub backend: Backend,
    pub client: reqwest::Client,
    /// The tables' names on the AWS backend.
    pub tables: Option<(String, String)>,
    /// The emulator this app talks to on the AWS backend.
    pub emulator: Option<String>,
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

/// The local secret every test app derives its keys from, so tests can forge tokens the way an
/// attacker can't.
pub const TEST_SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123";

/// A signing key in a test's hand: signs or panics.
pub struct TestSigner(pub shared::jwt::Signer);

impl TestSigner {
    pub fn sign(&self, claims: &shared::jwt::Claims) -> String {
        self.0.sign(claims).expect("signing")
    }
}

/// The signing key of every test app (as its issuers hold it).
pub fn test_signer() -> TestSigner {
    TestSigner(
        shared::jwt::Signer::of(&shared::config::derived_signing_keys(TEST_SECRET))
            .expect("the test signing key"),
    )
}

/// A signing key of someone else's, valid Ed25519 but not ours (and not under our key id).
pub fn attacker_signer() -> TestSigner {
    let key = shared::keys::KeyEntry::from_seed(&[42; 32], 0).expect("an Ed25519 seed");
    TestSigner(
        shared::jwt::Signer::of(&shared::keys::KeySet::single(key)).expect("the attacker's key"),
    )
}

/// `config` as `function` holds it in a deployment: without the keys the template gives only to
/// other functions (`shared::signing::KEY_HOLDERS`).
pub fn config_for(function: &str, config: &Config) -> Config {
    use shared::signing::holds;
    let mut config = config.clone();
    if !holds(function, "JWT_SIGNING_KEYS_ARN") {
        config.signing_keys = None;
        config.signing_keys_arn = None;
        config.signing_keys_file = None;
    }
    if !holds(function, "OTP_KEY_ARN") {
        config.otp_key = None;
        config.otp_key_arn = None;
    }
    if !holds(function, "DASHBOARD_KEY_ARN") {
        config.dashboard_key = None;
        config.dashboard_key_arn = None;
    }
    config
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Configuration for a test app on `backend`.
pub fn test_config(backend: Backend, dir: &std::path::Path) -> Config {
    let mut config = Config::embedded(dir.join("api.db"), TEST_SECRET.to_vec());
    if backend != Backend::Embedded {
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
        Self::spawn_with(backend, |_| {}).await
    }

    /// A gateway on `backend` with the demo data and a configuration changed by `tweak`.
    pub async fn spawn_seeded_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let app = Self::spawn_with(backend, tweak).await;
        local::demo::seed(&app.ctx)
            .await
            .expect("seeding the demo data");
        app
    }

    /// A gateway on `backend` with empty stores and a configuration changed by `tweak`.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        match backend {
            Backend::Embedded => Self::spawn_at(backend, None, tweak).await,
            Backend::Aws | Backend::AwsIam => {
                Self::spawn_at(backend, Some(admin_sdk(backend).await), tweak).await
            }
        }
    }

    /// A seeded gateway on the AWS adapters of `sdk` (a dedicated emulator, for fault tests).
    pub async fn spawn_on(sdk: aws_config::SdkConfig, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let app = Self::spawn_at(Backend::Aws, Some(sdk), tweak).await;
        local::demo::seed(&app.ctx)
            .await
            .expect("seeding the demo data");
        app
    }

    async fn spawn_at(
        backend: Backend,
        sdk: Option<aws_config::SdkConfig>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the gateway");
        let addr = listener.local_addr().expect("address");
        let mut config = test_config(backend, dir.path());
        config.public_base_url = Some(format!("http://{addr}"));
        tweak(&mut config);
        let emulator = sdk
            .as_ref()
            .and_then(|s| s.endpoint_url().map(str::to_string));
        let mut per_function = std::collections::HashMap::new();
        let (ctx, tables) = match sdk {
            None => {
                // The signing set where an operator's rotation steps can rewrite it.
                let file = dir.path().join("signing-keys.json");
                if let Some(keys) = &config.signing_keys {
                    shared::signing::write_private(&file, &keys.to_json()).expect("key file");
                    config.signing_keys_file = Some(file);
                }
                (Ctx::embedded(config).expect("embedded context"), None)
            }
            Some(sdk) => {
                config.bucket_name = format!("{}-blobs", config.table_name);
                config.s3_force_path_style = true;
                provision(&sdk, &config)
                    .await
                    .expect("provisioning the emulator");
                if let Some(keys) = &config.signing_keys {
                    config.signing_keys_arn = Some(signing_secret(&sdk, &keys.to_json()).await);
                }
                if backend == Backend::AwsIam {
                    per_function = function_contexts(&config, iam::identities()).await;
                }
                let tables = Some((config.table_name.clone(), config.counter_table_name.clone()));
                (Ctx::aws(config, &sdk).expect("aws context"), tables)
            }
        };
        // As after a deployment's `fintract-admin keys sync`: verifiers find the public keys.
        shared::signing::rotate(&ctx, shared::signing::Step::Sync)
            .await
            .expect("publishing the keys");
        if per_function.is_empty() {
            per_function = shared_port_contexts(&ctx);
        }
        let ctx = Arc::new(ctx);
        let server = tokio::spawn(local::serve_per_function(
            ctx.clone(),
            per_function,
            listener,
        ));
        TestApp {
            base: format!("http://{addr}"),
            ctx,
            backend,
            client: reqwest::Client::new(),
            tables,
            emulator,
            _dir: dir,
            server,
        }
    }

    /// A second gateway on this app's adapters and data with its store replaced by `store`
    /// (which wraps `self.ctx.store`): for tests that watch the calls a request makes.
    pub async fn with_store(&self, store: Arc<dyn shared::store::DataStore>) -> TestApp {
        let ctx = Ctx::with_ports(
            self.ctx.config.clone(),
            store,
            self.ctx.notifier.clone(),
            self.ctx.blobs.clone(),
        )
        .expect("the same configuration");
        self.beside(Arc::new(ctx), Default::default()).await
    }

    /// A second gateway on this app's emulator tables whose functions act as `identities`
    /// (IAM-enforced backend only): for tests that take an action from one function's policy.
    pub async fn with_identities(&self, identities: &iam::Identities) -> TestApp {
        assert_eq!(
            self.backend,
            Backend::AwsIam,
            "identities exist on the IAM emulator"
        );
        let per_function = function_contexts(&self.ctx.config, identities).await;
        self.beside(self.ctx.clone(), per_function).await
    }

    async fn beside(
        &self,
        ctx: Arc<Ctx>,
        per_function: std::collections::HashMap<&'static str, Arc<Ctx>>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the gateway");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(local::serve_per_function(
            ctx.clone(),
            per_function,
            listener,
        ));
        TestApp {
            base: format!("http://{addr}"),
            ctx,
            backend: self.backend,
            client: reqwest::Client::new(),
            tables: self.tables.clone(),
            emulator: self.emulator.clone(),
            _dir: tempfile::tempdir().expect("temp dir"),
            server,
        }
    }

    /// A client whose requests come from another source address, `127.0.0.<n>` (the whole of
    /// 127/8 is this machine), as a stranger elsewhere on the Internet would to the gateway.
    pub fn source(&self, n: u8) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, n]))
            .build()
            .expect("a client bound to a loopback address")
    }

    /// The dashboard's sign-in form as the demo operator, through `client`: the status, and the
    /// session cookie's `name=value` if one was set.
    pub async fn dashboard_sign_in(&self, client: &reqwest::Client) -> (u16, Option<String>) {
        let answer = client
            .post(self.url("/api/login/"))
            .header("origin", &self.base)
            .form(&[
                ("username", demo::ADMIN.username),
                ("password", demo::ADMIN.password),
            ])
            .send()
            .await
            .expect("the dashboard's sign-in");
        let cookie = answer
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("dfcu_dashboard="))
            .and_then(|c| c.split(';').next())
            .map(str::to_string);
        (answer.status().as_u16(), cookie)
    }

    /// POSTs `body` as JSON through `client` (see [`TestApp::source`]).
    pub async fn post_json_with(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: &Value,
    ) -> Answer {
        self.send(client.post(self.url(path)).json(body)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends any request and reads the answer, which must keep to `openapi.yaml` (a documented
    /// status, and a body valid against its schema) when the contract describes the operation.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let (client, request) = request.build_split();
        let request = request.expect("a well-formed request");
        let (requested, method) = (request.url().clone(), request.method().to_string());
        let response = client.execute(request).await.expect("the gateway answers");
        // A followed redirect (the dashboard's 303) ends in a GET of the final URL.
        let method = if *response.url() == requested {
            method
        } else {
            "GET".into()
        };
        let path = response.url().path().to_string();

        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let Err(broken) = contract::check(&method, &path, status, content_type, &bytes) {
            panic!("openapi.yaml: {broken}");
        }

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

    /// What was counted of `function` (all its routes) in the last hour and this one, every part
    /// read (the store's own view, not the dashboard's).
    pub async fn counted(&self, function: &str) -> shared::store::Figures {
        let hour = shared::metrics::hour_of(shared::now());
        let parts = self.ctx.config.counter_parts();
        let mut figures = shared::store::Figures::default();
        for h in [hour - 1, hour] {
            let by_name = self.ctx.store.read_hour(h, parts).await.unwrap();
            for (name, f) in by_name {
                if shared::route::function_of(&name) == function {
                    figures.merge(&f);
                }
            }
        }
        figures
    }

    /// A demo user's access token from the DFCU password grant (`POST /token/`: `amr` `pwd`),
    /// or a panic naming why not. The Fintract routes refuse it: see [`TestApp::code_token`].
    pub async fn access_token(&self, user: &demo::DemoUser) -> String {
        let a = self.token(user.username, user.password).await;
        assert_eq!(a.status, 200, "token for {}: {:?}", user.username, a.body);
        a.body["access"].as_str().expect("access").to_string()
    }

    /// A demo user's access token from a Fintract sign-in with the e-mailed code (`amr` `pwd`
    /// and `otp`), as the Fintract document's client gets it.
    pub async fn code_token(&self, user: &demo::DemoUser) -> String {
        let a = self.login(user.email, user.password, "Email").await;
        assert_eq!(a.status, 200, "login of {}: {:?}", user.username, a.body);
        let id = a.body["data"]["id"].as_u64().expect("the user's id");
        let code = self.code_sent_to(user.email).await;
        let a = self.verify_otp(id, &code).await;
        assert_eq!(a.status, 200, "code of {}: {:?}", user.username, a.body);
        a.body["tokens"]["access"]
            .as_str()
            .expect("access")
            .to_string()
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

/// The SDK configuration test set-up and helpers use on an AWS `backend`: the shared emulator's
/// dummy identity, or the IAM-enforcing emulator's administrator.
pub async fn admin_sdk(backend: Backend) -> aws_config::SdkConfig {
    match backend {
        Backend::AwsIam => iam::sdk_config(&iam::identities().admin).await,
        _ => moto::sdk_config().await,
    }
}

/// A secret holding `value` in the emulator of `sdk`; answers its ARN.
pub async fn signing_secret(sdk: &aws_config::SdkConfig, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(unique("signing-keys"))
        .secret_string(value)
        .send()
        .await
        .expect("a secret")
        .arn()
        .expect("an ARN")
        .to_string()
}

/// A context per function on `ctx`'s ports, each holding only its own keys; the issuers re-read
/// the signing set where `ctx` does.
fn shared_port_contexts(ctx: &Ctx) -> std::collections::HashMap<&'static str, Arc<Ctx>> {
    let mut contexts = std::collections::HashMap::new();
    for route in functions::routes() {
        let config = config_for(route.function, &ctx.config);
        let source = if config.signing_keys.is_some() {
            ctx.signing_source().clone()
        } else {
            shared::signing::SigningSource::None
        };
        let own = Ctx::with_source(
            config,
            ctx.store.clone(),
            ctx.notifier.clone(),
            ctx.blobs.clone(),
            source,
        )
        .expect("a function's context");
        contexts.insert(route.function, Arc::new(own));
    }
    contexts
}

/// A context per function of the route table, each acting as that function's IAM identity and
/// holding only its own keys.
pub async fn function_contexts(
    config: &Config,
    identities: &iam::Identities,
) -> std::collections::HashMap<&'static str, Arc<Ctx>> {
    let mut contexts = std::collections::HashMap::new();
    for route in functions::routes() {
        let identity = identities
            .functions
            .get(route.function)
            .unwrap_or_else(|| panic!("no IAM identity for function {}", route.function));
        let sdk = iam::sdk_config(identity).await;
        let ctx = Ctx::aws(config_for(route.function, config), &sdk).expect("aws context");
        contexts.insert(route.function, Arc::new(ctx));
    }
    contexts
}

/// Creates what SAM would in AWS: both tables, the bucket, and (as an operator does once in SES)
/// the verified sender — moto refuses mail from an unverified one.
pub async fn provision(sdk: &aws_config::SdkConfig, config: &Config) -> Result<(), String> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    MAIN_TABLE
        .create(&client, &config.table_name)
        .await
        .map_err(|e| e.to_string())?;
    COUNTER_TABLE
        .create(&client, &config.counter_table_name)
        .await
        .map_err(|e| e.to_string())?;
    let _ = aws_sdk_sesv2::Client::new(sdk)
        .create_email_identity()
        .email_identity(&config.mail_from)
        .send()
        .await;
    moto::s3(sdk)
        .create_bucket()
        .bucket(&config.bucket_name)
        .send()
        .await
        .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
    Ok(())
}

/// `events/<function>.json` with tokens `ctx` issues for `issuer` filled in, signed in with the
/// code: the demo customer's (`__ACCESS_TOKEN__`, `__REFRESH_TOKEN__`) and the demo admin's
/// (`__ADMIN_TOKEN__`). The boot tests and the bench feed functions these.
pub async fn event_with_demo_tokens(ctx: &Ctx, function: &str, issuer: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(format!("{function}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let user = |name: &'static str| async move {
        ctx.store.user_by_username(name).await.unwrap().unwrap()
    };
    let code = shared::jwt::Earned::PasswordAndCode;
    let james = ctx
        .issue_tokens(issuer, &user(demo::JAMES.username).await, code)
        .await
        .unwrap();
    let admin = ctx
        .issue_tokens(issuer, &user(demo::ADMIN.username).await, code)
        .await
        .unwrap();
    text.replace("__ACCESS_TOKEN__", &james.access)
        .replace("__REFRESH_TOKEN__", &james.refresh)
        .replace("__ADMIN_TOKEN__", &admin.access)
}

/// An account whose stored item the adapters cannot decode (see [`TestApp::corrupt_an_account`]).
pub const CORRUPT_ACCOUNT: &str = "5000199999";

/// The per-class counts of [`TestApp::drive_the_documented_mix`], as (positive, negative, failed):
/// the DFCU document's dashboard shows 11 requests = 4 positive + 5 negative + 2 failed.
pub const MIX: (u64, u64, u64) = (4, 5, 2);
/// Its share per function: `token` 2 positive and 2 negative; `loans` 2, 3 and 2 failed.
pub const MIX_TOKEN: (u64, u64, u64) = (2, 2, 0);
pub const MIX_LOANS: (u64, u64, u64) = (2, 3, 2);

impl TestApp {
    /// Stores an account item that no adapter can decode (its balance is not a number): a real
    /// backend fault that makes `loans` answer 500 for that account, while users stay readable.
    pub async fn corrupt_an_account(&self) {
        match self.backend {
            Backend::Embedded => {
                let path = match &self.ctx.config.backend {
                    ConfigBackend::Embedded { database_path } => database_path.clone(),
                    ConfigBackend::Aws => unreachable!("an embedded app has an embedded backend"),
                };
                let conn = rusqlite::Connection::open(path).expect("the test database");
                conn.execute(
                    "INSERT INTO accounts VALUES (?1, 'C999', 'Broken Record', 'not a number', 'UGX')",
                    [CORRUPT_ACCOUNT],
                )
                .expect("a corrupt account row");
            }
            Backend::Aws | Backend::AwsIam => {
                use aws_sdk_dynamodb::types::AttributeValue::S;
                let sdk = admin_sdk(self.backend).await;
                let (main, _) = self.tables.clone().expect("AWS tables");
                aws_sdk_dynamodb::Client::new(&sdk)
                    .put_item()
                    .table_name(main)
                    .item("pk", S(format!("ACCOUNT#{CORRUPT_ACCOUNT}")))
                    .item("sk", S("ACCOUNT".into()))
                    .item("account_number", S(CORRUPT_ACCOUNT.into()))
                    .item("customer_id", S("C999".into()))
                    .item("customer_name", S("Broken Record".into()))
                    .item("balance", S("not a number".into()))
                    .item("currency", S("UGX".into()))
                    .send()
                    .await
                    .expect("a corrupt account item");
            }
        }
    }

    /// Drives the mix of the DFCU document's dashboard against the API: 4 positive, 5 negative
    /// and 2 failed requests (see [`MIX`]), asserting each status. Returns the admin's access
    /// token it obtained on the way (its request is one of the 4 positive).
    pub async fn drive_the_documented_mix(&self) -> String {
        self.corrupt_an_account().await;
        let admin = self.access_token(&demo::ADMIN).await; // token 200
        let james = self.access_token(&demo::JAMES).await; // token 200
        assert_eq!(self.token(demo::JAMES.username, "wrong").await.status, 401);
        assert_eq!(
            self.post_json("/token/", &json!({}), None).await.status,
            400
        );
        let loans = |account: &'static str, bearer: Option<String>| async move {
            self.loans(account, bearer.as_deref()).await
        };
        assert_eq!(
            loans(demo::JAMES_ACCOUNT, Some(james.clone())).await.status,
            200
        );
        assert_eq!(
            loans(demo::SARAH_ACCOUNT, Some(admin.clone())).await.status,
            200
        );
        assert_eq!(loans(demo::JAMES_ACCOUNT, None).await.status, 401);
        assert_eq!(
            loans(demo::SARAH_ACCOUNT, Some(james.clone())).await.status,
            404
        );
        assert_eq!(loans("12ab", Some(james)).await.status, 400);
        for _ in 0..2 {
            let a = loans(CORRUPT_ACCOUNT, Some(admin.clone())).await;
            assert_eq!(
                a.status, 500,
                "a corrupt item is a server failure: {:?}",
                a.body
            );
        }
        admin
    }
}

/// Where build outputs go (`$CARGO_TARGET_DIR`, else the workspace's `target/`): screenshots too.
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A user registered and verified through the API, as a client would.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: u64,
    pub email: String,
    pub username: String,
    pub password: String,
    pub phone: String,
    pub customer_id: String,
}

/// A token's claims, read without checking it: the server checks; a test only looks.
pub fn peek_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a token of three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("a base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A browser-less client that keeps every answer as it is (no redirect followed).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A value no other test in this process uses (messages in moto are shared by all tests).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A phone number no other test in this process uses.
pub fn unique_phone() -> String {
    let n =
        NEXT.fetch_add(1, Ordering::SeqCst) as u64 + (std::process::id() as u64 % 1000) * 100_000;
    format!("+2567{:08}", n % 100_000_000)
}

impl TestApp {
    /// Every message sent to `to` (e-mail address or phone number), oldest first: from the
    /// gateway's `/_local/outbox` on the embedded backend, from moto's SES and SNS on AWS.
    pub async fn messages_to(&self, to: &str) -> Vec<shared::notify::Message> {
        match self.backend {
            Backend::Embedded => {
                let r = self
                    .client
                    .get(self.url("/_local/outbox"))
                    .query(&[("to", to)])
                    .send()
                    .await
                    .expect("outbox");
                r.json().await.expect("outbox JSON")
            }
            Backend::Aws | Backend::AwsIam => {
                // The emulator's inbox for one address (`tests/moto_serial.py`): SES's e-mail,
                // then SNS's texts, each oldest first.
                let base = self.emulator.as_deref().unwrap_or_else(|| moto::endpoint());
                self.client
                    .get(format!("{base}/_messages"))
                    .query(&[("to", to)])
                    .send()
                    .await
                    .expect("moto")
                    .json()
                    .await
                    .expect("moto messages JSON")
            }
        }
    }

    /// The body of the last message sent to `to`.
    pub async fn last_message_to(&self, to: &str) -> String {
        let messages = self.messages_to(to).await;
        messages
            .last()
            .unwrap_or_else(|| panic!("no message to {to}"))
            .body
            .clone()
    }

    /// The six-digit code in the last message to `to` that carries one. Security notices go to
    /// the same addresses, and on AWS the emulator's mail is shared by every test of the process:
    /// a demo account's notice from another test may come after the code.
    pub async fn code_sent_to(&self, to: &str) -> String {
        let messages = self.messages_to(to).await;
        messages
            .iter()
            .rev()
            .find_map(|m| {
                m.body
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no code in any message to {to}: {messages:?}"))
    }

    /// The verification link's path and query in the last message to `email` that carries one.
    pub async fn link_sent_to(&self, email: &str) -> String {
        let messages = self.messages_to(email).await;
        let body = messages
            .iter()
            .rev()
            .map(|m| m.body.as_str())
            .find(|b| b.contains("/auth/verify-email/"))
            .unwrap_or_else(|| panic!("no link in any message to {email}: {messages:?}"));
        let start = body.find("/auth/verify-email/").unwrap_or_default();
        body[start..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// `POST /auth/register/`.
    pub async fn register(&self, body: &Value, bearer: Option<&str>) -> Answer {
        self.post_json("/auth/register/", body, bearer).await
    }

    /// A registration body with fresh unique values.
    pub fn registration(&self, user_type: &str) -> Value {
        let name = unique("user");
        json!({
            "username": name,
            "email": format!("{name}@example.com"),
            "name": "Test Person",
            "user_type": user_type,
            "phone": unique_phone(),
            "gender": "FEMALE",
            "password": "correct horse battery",
            "password2": "correct horse battery",
        })
    }

    /// Registers `body` and opens the verification link, as a person would.
    pub async fn register_verified(&self, body: &Value, bearer: Option<&str>) -> TestUser {
        let a = self.register(body, bearer).await;
        assert_eq!(a.status, 201, "register: {:?}", a.body);
        let email = a.body["email"].as_str().unwrap().to_string();
        let link = self.link_sent_to(&email).await;
        let v = self.send(self.client.get(self.url(&link))).await;
        assert_eq!(v.status, 200, "verify: {:?}", v.body);
        TestUser {
            id: a.body["id"].as_u64().unwrap(),
            email,
            username: a.body["username"].as_str().unwrap().to_string(),
            password: body["password"].as_str().unwrap().to_string(),
            phone: a.body["phone"].as_str().unwrap().to_string(),
            customer_id: a.body["customer_id"].as_str().unwrap().to_string(),
        }
    }

    /// A fresh verified user of `user_type` (CUSTOMER or DEVELOPER).
    pub async fn new_user(&self, user_type: &str) -> TestUser {
        self.register_verified(&self.registration(user_type), None)
            .await
    }

    /// A demo user's stored record, as it is now.
    pub async fn stored(&self, user: &demo::DemoUser) -> shared::model::User {
        self.ctx
            .store
            .user_by_username(user.username)
            .await
            .expect("the store")
            .unwrap_or_else(|| panic!("no user {}", user.username))
    }

    /// A verified account of `user_type`, put straight into the store (as an operator's import
    /// or the admin command would), with the password `correct horse battery`.
    pub async fn account_of(&self, user_type: shared::model::UserType) -> TestUser {
        let name = unique("acct");
        let password = "correct horse battery".to_string();
        let new = shared::model::NewUser {
            username: name.clone(),
            email: format!("{name}@example.com"),
            name: format!("Test {}", user_type.as_str()),
            phone: unique_phone(),
            user_type,
            customer_id: unique("9").replace('x', ""),
            gender: None,
            password_hash: shared::password::hash(password.clone())
                .await
                .expect("a hash"),
            is_verified: true,
            admin_approved: false,
            created_at: self.ctx.now(),
        };
        let user = self
            .ctx
            .store
            .create_user(new)
            .await
            .expect("the store")
            .expect("fresh values");
        TestUser {
            id: user.id,
            email: user.email,
            username: user.username,
            password,
            phone: user.phone,
            customer_id: user.customer_id,
        }
    }

    /// `POST /auth/login/`.
    pub async fn login(&self, email: &str, password: &str, otp_type: &str) -> Answer {
        self.post_json(
            "/auth/login/",
            &json!({"email": email, "password": password, "otpType": otp_type}),
            None,
        )
        .await
    }

    /// `POST /auth/login/{id}/`.
    pub async fn verify_otp(&self, id: u64, otp: &str) -> Answer {
        self.post_json(&format!("/auth/login/{id}/"), &json!({ "otp": otp }), None)
            .await
    }

    /// Signs `user` in by e-mail code; returns the answer of the code check.
    pub async fn sign_in(&self, user: &TestUser) -> Answer {
        let a = self.login(&user.email, &user.password, "Email").await;
        assert_eq!(a.status, 200, "login: {:?}", a.body);
        let code = self.code_sent_to(&user.email).await;
        let a = self.verify_otp(user.id, &code).await;
        assert_eq!(a.status, 200, "otp: {:?}", a.body);
        a
    }

    /// POSTs `bytes` as the `file` part of a multipart body, under a client-chosen name and
    /// declared type (which the API must ignore), with a bearer token.
    pub async fn post_file(
        &self,
        path: &str,
        bytes: Vec<u8>,
        name: &str,
        declared: &str,
        token: &str,
    ) -> Answer {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(declared)
            .expect("a valid MIME type");
        let form = reqwest::multipart::Form::new().part("file", part);
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .multipart(form),
        )
        .await
    }

    /// `POST /auth/upload/` of a small valid PDF named `name`.
    pub async fn upload_pdf(&self, name: &str, token: &str) -> Answer {
        let pdf = shared::upload::samples::pdf();
        self.post_file("/auth/upload/", pdf, name, "application/pdf", token)
            .await
    }

    /// The keys of the objects below `prefix` in this app's blob store.
    pub async fn objects(&self, prefix: &str) -> Vec<String> {
        self.ctx
            .blobs
            .list(prefix)
            .await
            .expect("listing the blob store")
    }

    /// `user`'s (access, refresh) pair, through login and code.
    pub async fn session(&self, user: &TestUser) -> (String, String) {
        let a = self.sign_in(user).await;
        let token = |kind: &str| {
            a.body["tokens"][kind]
                .as_str()
                .expect("a token")
                .to_string()
        };
        (token("access"), token("refresh"))
    }

    /// `user`'s access token, through login and code.
    pub async fn access_of(&self, user: &TestUser) -> String {
        self.session(user).await.0
    }

    /// `GET /auth/info/{id}/` as the holder of `token`, whatever it answers: how a test sees
    /// whether a token is still honoured.
    pub async fn profile_answer(&self, id: u64, token: &str) -> Answer {
        self.call("GET", &format!("/auth/info/{id}/"), None, Some(token))
            .await
    }

    /// `GET /auth/info/{id}/` as the holder of `token`, which must answer 200: the profile.
    pub async fn profile(&self, id: u64, token: &str) -> Value {
        let a = self.profile_answer(id, token).await;
        assert_eq!(a.status, 200, "profile of {id}: {:?}", a.body);
        a.body
    }

    /// Moves the app's clock to the start of a fresh throttling window of `secs` (windows are
    /// aligned to multiples of their length), so that a test counting attempts up to a limit
    /// cannot straddle two windows however slowly it runs. Tokens issued before may expire.
    pub fn start_of_window(&self, secs: i64) {
        let now = self.ctx.config.clock.now();
        self.ctx
            .config
            .clock
            .advance(secs - now.rem_euclid(secs) + 1);
    }

    /// Confirms `user`'s phone number through the API, as its owner signed in with `access`:
    /// `POST /auth/phone/`, the code from the text, `POST /auth/phone/confirm/`.
    pub async fn confirm_phone(&self, user: &TestUser, access: &str) {
        let a = self.call("POST", "/auth/phone/", None, Some(access)).await;
        assert_eq!(a.status, 200, "send: {:?}", a.body);
        let code = self.code_sent_to(&user.phone).await;
        let a = self
            .call(
                "POST",
                "/auth/phone/confirm/",
                Some(&json!({ "code": code })),
                Some(access),
            )
            .await;
        assert_eq!(a.status, 200, "confirm: {:?}", a.body);
    }

    /// Sends `method path` with a JSON body (or none) and a bearer token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        bearer: Option<&str>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.client.request(method, self.url(path));
        if let Some(b) = body {
            r = r.json(b);
        }
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        self.send(r).await
    }
}

/// Declares each listed `async fn(TestApp)` as a test on both backends:
/// `<module>::embedded::<name>` and `<module>::aws::<name>`, and once more on the AWS backend
/// with every function held to its IAM policy: `<module>::iam::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    (with $spawn:ident; $($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::$spawn($crate::Backend::Embedded).await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::$spawn($crate::Backend::Aws).await).await
                }
            )*
        }
        mod iam {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::$spawn($crate::Backend::AwsIam).await).await
                }
            )*
        }
    };
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
        mod iam {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestApp::spawn($crate::Backend::AwsIam).await).await
                }
            )*
        }
    };
}
