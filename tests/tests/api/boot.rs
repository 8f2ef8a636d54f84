//! Every function binary booted as a real process against a local Lambda Runtime API (written
//! here) and fed its `events/<function>.json`: proves each binary's wiring (`functions/src/bin/<function>.rs`), configuration loading and
//! the API Gateway v2 event format, which handler tests skip.

use std::path::PathBuf;
use std::time::Duration;

use acceptance::runtime_api::{self, lambda_env, Outcome, Report};
use acceptance::{Backend, TestApp};
use serde_json::Value;
use shared::config::Config;
use shared::Ctx;

const SECRET: &str = "boot-test-secret-boot-test-secret-0123456789";

/// The function binaries sit beside this test's `deps/` folder once built.
fn binary(function: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let path = dir.join(function);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

/// Boots `function` on a fresh seeded SQLite file, feeds it its event, returns the answer.
async fn boot(function: &str) -> (u16, Value) {
    let (status, body, _) = boot_with(function, &[]).await;
    (status, body)
}

/// [`boot`] with `env` added to the function's environment; also returns its folder (outbox).
async fn boot_with(function: &str, env: &[(&str, &str)]) -> (u16, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("api.db");
    let ctx = Ctx::embedded(Config::embedded(&db, SECRET.as_bytes().to_vec())).unwrap();
    local::demo::seed(&ctx).await.unwrap();
    let issuer = env
        .iter()
        .find(|(k, _)| *k == "PUBLIC_BASE_URL")
        .map_or(EVENT_ISSUER, |(_, v)| *v);
    let event = event_for(function, &ctx, issuer).await;
    drop(ctx);
    let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    let mut vars = vec![
        ("BACKEND".to_string(), "embedded".to_string()),
        ("DATABASE_PATH".into(), path(db)),
        ("OUTBOX_PATH".into(), path(dir.path().join("outbox.jsonl"))),
        ("BLOB_DIR".into(), path(dir.path().join("blobs"))),
        ("LOCAL_SECRET".into(), SECRET.into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let (status, body) = run(function, event, vars).await;
    (status, body, dir)
}

/// The issuer of the events' requests: their `requestContext` (no `PUBLIC_BASE_URL`).
const EVENT_ISSUER: &str = "https://abc123defg.execute-api.eu-west-1.amazonaws.com";

/// Boots `function` as it runs in AWS: `BACKEND=aws` on the IAM-enforcing emulator, as the
/// identity of its own policy, with the environment the template gives it: the ARN of each key
/// it holds (read from Secrets Manager at init) and nothing else.
async fn boot_on_aws(function: &str) -> (u16, Value) {
    boot_on_aws_with(function, |_| {}).await
}

/// [`boot_on_aws`] with its environment changed by `edit`.
async fn boot_on_aws_with(
    function: &str,
    edit: impl FnOnce(&mut Vec<(String, String)>),
) -> (u16, Value) {
    let (status, body, _) = boot_on_aws_logged(function, edit).await;
    (status, body)
}

/// [`boot_on_aws_with`], also returning what the function wrote to stdout (its log lines).
async fn boot_on_aws_logged(
    function: &str,
    edit: impl FnOnce(&mut Vec<(String, String)>),
) -> (u16, Value, String) {
    let app = TestApp::spawn(Backend::AwsIam).await;
    let admin = acceptance::admin_sdk(Backend::AwsIam).await;
    // The keys as an operator stores them; the tokens in the event are signed with the same.
    let config = &app.ctx.config;
    let signing = config
        .signing_keys
        .as_ref()
        .expect("the test keys")
        .to_json();
    let otp = String::from_utf8(config.otp_key.clone().unwrap()).unwrap_or_else(|_| "x".repeat(40));
    let dashboard =
        String::from_utf8(config.dashboard_key.clone().unwrap()).unwrap_or_else(|_| "x".repeat(40));
    let mut held = Vec::new();
    for (variable, value) in [
        ("JWT_SIGNING_KEYS_ARN", signing),
        ("OTP_KEY_ARN", otp),
        ("DASHBOARD_KEY_ARN", dashboard),
    ] {
        if shared::signing::holds(function, variable) {
            let arn = acceptance::signing_secret(&admin, &value).await;
            held.push((variable.to_string(), arn));
        }
    }
    let event = event_for(function, &app.ctx, EVENT_ISSUER).await;
    let identity = &acceptance::iam::identities().functions[function];
    let vars = [
        ("BACKEND", "aws"),
        ("AWS_ENDPOINT_URL", acceptance::iam::endpoint()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", &identity.key),
        ("AWS_SECRET_ACCESS_KEY", &identity.secret),
        ("TABLE_NAME", &config.table_name),
        ("COUNTER_TABLE_NAME", &config.counter_table_name),
        ("BUCKET_NAME", &config.bucket_name),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("MAIL_FROM", &config.mail_from),
    ];
    let mut vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(held)
        .collect();
    edit(&mut vars);
    run_logged(function, event, vars).await
}

/// `events/<function>.json` with demo tokens issued by `ctx` filled in.
async fn event_for(function: &str, ctx: &Ctx, issuer: &str) -> String {
    acceptance::event_with_demo_tokens(ctx, function, issuer).await
}

/// Runs `function`'s binary with the Lambda variables and `vars`, feeds it `event`, and returns
/// its answer.
async fn run(function: &str, event: String, vars: Vec<(String, String)>) -> (u16, Value) {
    let (status, body, _) = run_logged(function, event, vars).await;
    (status, body)
}

/// [`run`], also returning what the function wrote to stdout.
async fn run_logged(
    function: &str,
    event: String,
    vars: Vec<(String, String)>,
) -> (u16, Value, String) {
    let (addr, mut reports) = runtime_api::start(event, 1).await;
    let mut child = tokio::process::Command::new(binary(function))
        .env_clear()
        .envs(lambda_env(function, addr))
        .env("RUST_LOG", "warn")
        .envs(vars)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().expect("piped stderr");
    let mut stdout = child.stdout.take().expect("piped stdout");
    // Drained as it comes, so a chatty function never blocks on a full pipe.
    let logged = tokio::spawn(async move {
        let mut log = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut log).await;
        log
    });
    let outcome = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::select! {
            outcome = done(&mut reports) => outcome,
            // A failed cold start exits before it asks for an event.
            _ = child.wait() => {
                let mut log = String::new();
                let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut log).await;
                Outcome::InitError(log)
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{function} answered nothing within 60 s"));
    let _ = child.kill().await;
    let logged = logged.await.unwrap_or_default();
    let (status, body) = match outcome {
        Outcome::Response(v) => {
            let status = v["statusCode"].as_u64().unwrap_or(0) as u16;
            assert_eq!(
                v["headers"]["content-type"], "application/json",
                "{function}: {v}"
            );
            let body =
                serde_json::from_str(v["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
            (status, body)
        }
        // A failed cold start, as its report (the status no response has).
        Outcome::InitError(report) => (0, serde_json::json!({ "init_error": report })),
        other => panic!("{function} did not answer with a response: {other:?}"),
    };
    (status, body, logged)
}

/// The first outcome reported, skipping the poll notice.
async fn done(reports: &mut tokio::sync::mpsc::UnboundedReceiver<Report>) -> Outcome {
    loop {
        match reports.recv().await.expect("the runtime API runs") {
            Report::Done(_, outcome) => return outcome,
            Report::FirstPoll(_) => continue,
        }
    }
}

/// What each function's `events/<function>.json` must get back: its status and a check of its
/// body. A function the registry lists and this table does not is still booted; it must answer
/// its event with JSON and without a server error.
type Holds = fn(&Value) -> bool;
type Expected = (&'static str, u16, Holds);
const EXPECTED: &[Expected] = &[
    ("token", 200, |b| {
        b["access"].is_string() && b["refresh"].is_string()
    }),
    ("token-refresh", 200, |b| b["access"].is_string()),
    ("loans", 200, |b| {
        b["response"]["customer_loans"][0]["loan_id"] == "L000005"
    }),
    ("register", 201, |b| {
        b["username"] == "JohnDoe0303" && b.get("password").is_none()
    }),
    ("verify-email", 400, |b| {
        b["error"] == "Invalid or expired verification link."
    }),
    ("re-verify-email", 201, |b| b["message"] == "New token sent"),
    ("login", 200, |b| b["data"]["id"] == 3),
    ("verify-otp", 401, |b| {
        b["error"] == "Invalid or expired code."
    }),
    ("admin-approval", 200, |b| b["msg"] == "User admin approved"),
    ("customer-claims", 200, |b| {
        b["customer_id"] == "C006" && b["claimants"][0]["name"] == "Grace Akello"
    }),
    ("user-info", 200, |b| {
        b["customer-id"] == "C003" && b["net_balance"] == 1_250_000
    }),
    ("update-user", 200, |b| {
        b["message"] == "Updated Successfully"
    }),
    ("update-username", 200, |b| {
        b["msg"] == "Account Successfully Updated"
    }),
    ("deactivate-account", 200, |b| {
        b["msg"] == "Account deactivate request submitted!"
    }),
    ("delete-account", 200, |b| {
        b["msg"] == "Account Successfully deleted"
    }),
    ("avatar", 201, |b| {
        b["user"]["avatar"]
            .as_str()
            .unwrap_or("")
            .contains("/avatars/3/")
    }),
    ("upload-file", 201, |b| {
        b["url"].as_str().unwrap_or("").contains("/uploads/3/")
    }),
    ("verify-phone", 200, |b| {
        b["message"] == "A confirmation code was sent to your phone number."
    }),
    ("password-reset", 200, |b| {
        b["message"]
            == "If an account uses this address, a link to reset its password has been sent there."
    }),
    ("change-password", 400, |b| {
        b["fields"]["current_password"] == "This is not your current password."
    }),
    ("authenticator", 200, |b| {
        b["data"]["otpauth_uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("otpauth://totp/Fintract:"))
            && b["data"]["qr_svg"]
                .as_str()
                .is_some_and(|s| s.contains("<svg"))
    }),
    ("logout", 200, |b| b["message"] == "Signed out."),
    ("sessions", 200, |b| {
        b["sessions"].as_array().is_some_and(|s| !s.is_empty())
    }),
    ("dashboard", 401, |b| b["error"].is_string()),
    ("well-known", 200, |b| {
        b["keys"][0]["kty"] == "OKP" && b["keys"][0].get("d").is_none()
    }),
];

fn expected(function: &str) -> Option<(u16, Holds)> {
    EXPECTED
        .iter()
        .find(|(name, _, _)| *name == function)
        .map(|(_, status, holds)| (*status, *holds))
}

/// Holds `function`'s answer to its event to [`expected`].
fn check(function: &str, status: u16, body: &Value) {
    match expected(function) {
        Some((want, holds)) => {
            assert_eq!(status, want, "{function}: {body}");
            assert!(holds(body), "{function}: {body}");
        }
        None => {
            eprintln!("{function}: no expected answer listed; held to a JSON answer below 500");
            assert!(status < 500, "{function}: {status} {body}");
        }
    }
}

/// Boots every function of the registry with `boot`, a few at a time, and checks each answer.
async fn boot_every_function<F, Fut>(boot: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    use futures::StreamExt;
    let boot = &boot;
    let answers: Vec<_> = futures::stream::iter(functions::FUNCTIONS)
        .map(|f| async move { (*f, boot(f).await) })
        .buffered(4)
        .collect()
        .await;
    assert_eq!(answers.len(), functions::FUNCTIONS.len());
    for (function, (status, body)) in answers {
        check(function, status, &body);
    }
}

/// Every function of the registry booted on the embedded backend with its event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_of_the_registry_boots_and_answers_its_event() {
    boot_every_function(boot).await;
}

#[test]
fn the_expectations_name_only_functions_of_the_registry() {
    // A renamed or removed function cannot leave its checks behind unnoticed.
    for (function, _, _) in EXPECTED {
        assert!(functions::FUNCTIONS.contains(function), "{function}");
    }
}

mod iam {
    use super::*;

    /// The same, as each function runs in AWS: `BACKEND=aws` on the IAM-enforcing emulator, as
    /// the identity of its own policy, with its key from Secrets Manager.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_function_of_the_registry_boots_and_answers_its_event() {
        boot_every_function(boot_on_aws).await;
    }
}

/// The verification link `register` mailed when booted with `env` and its API Gateway event.
async fn link_mailed_by_register(env: &[(&str, &str)]) -> String {
    let (status, body, dir) = boot_with("register", env).await;
    assert_eq!(status, 201, "{body}");
    let mail = shared::notify::Outbox::read(&dir.path().join("outbox.jsonl"));
    let body = &mail.last().expect("a verification mail").body;
    let start = body.find("http").expect("a link");
    body[start..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailed_link_points_at_the_execute_api_url_the_request_came_in_at() {
    // No PUBLIC_BASE_URL: the event's requestContext (domainName, stage) gives the base.
    let link = link_mailed_by_register(&[]).await;
    assert!(
        link.starts_with(
            "https://abc123defg.execute-api.eu-west-1.amazonaws.com/auth/verify-email/?token="
        ),
        "{link}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailed_link_points_at_the_custom_domain_when_one_is_configured() {
    let base = "https://api.bank.example/fintract";
    let link = link_mailed_by_register(&[("PUBLIC_BASE_URL", base)]).await;
    assert!(
        link.starts_with(&format!("{base}/auth/verify-email/?token=")),
        "{link}"
    );
}

#[tokio::test]
async fn a_function_without_its_keys_reports_an_init_error() {
    let (addr, mut reports) = runtime_api::start("{}".into(), 1).await;
    let mut child = tokio::process::Command::new(binary("token"))
        .env_clear()
        .envs(lambda_env("token", addr))
        .env("BACKEND", "embedded")
        .env(
            "DATABASE_PATH",
            tempfile::tempdir().unwrap().path().join("x.db"),
        )
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // No signing keys for a function that signs: it must exit with an error, not serve.
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("it exits")
        .unwrap();
    assert!(!status.success());
    if let Ok(outcome) = tokio::time::timeout(Duration::from_millis(100), done(&mut reports)).await
    {
        match outcome {
            Outcome::InitError(report) | Outcome::Error(report) => {
                assert!(report.contains("JWT_SIGNING_KEYS"), "{report}")
            }
            Outcome::Response(v) => panic!("served a request without a signing key: {v}"),
        }
    }
}

/// `local-gateway` pointed at AWS tables (which could be a deployment's) must not put the demo
/// operator `admin` / `1234` there: it serves them as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_gateway_seeds_no_demo_credential_into_aws_tables() {
    let app = TestApp::spawn_empty(Backend::Aws).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = &app.ctx.config;
    let mut gateway = tokio::process::Command::new(binary("local-gateway"))
        .env_clear()
        .env("BACKEND", "aws")
        .env("AWS_ENDPOINT_URL", acceptance::moto::endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("TABLE_NAME", &config.table_name)
        .env("COUNTER_TABLE_NAME", &config.counter_table_name)
        .env("BUCKET_NAME", &config.bucket_name)
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("LOCAL_SECRET", SECRET)
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let sent = client
            .post(format!("{base}/token/"))
            .json(&serde_json::json!({"username": "admin", "password": "1234"}))
            .send()
            .await;
        if let Ok(r) = sent {
            break r.status().as_u16();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never listened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = gateway.kill().await;
    assert_eq!(answer, 401, "the demo operator signs in on AWS tables");
    let admin = app.ctx.store.user_by_username("admin").await.unwrap();
    assert!(admin.is_none(), "demo data seeded into AWS tables");
}

/// On the production path each answer writes one CloudWatch Embedded Metric Format line to
/// stdout (Lambda's log stream, where CloudWatch extracts it): the function's count and handler
/// duration, with no call of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_an_answer_on_aws_writes_its_embedded_metric_line() {
    let (status, _, stdout) = boot_on_aws_logged("loans", |_| {}).await;
    assert_eq!(status, 200);
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(lines.len(), 1, "one metric line per answer: {stdout}");
    let line = &lines[0];
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(line["Function"], "loans");
    assert_eq!(line["Requests"], 1);
    assert_eq!(line["ServerErrors"], 0);
    assert_eq!(line["CountsLost"], 0, "the count itself was kept");
    assert!(line["Duration"].as_f64().unwrap() > 0.0);
    assert!(directive["Namespace"]
        .as_str()
        .unwrap()
        .starts_with("Fintract/"));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let stamped = line["_aws"]["Timestamp"].as_i64().unwrap();
    assert!(
        (now_ms - stamped).abs() < 120_000,
        "stamped with the real time"
    );
}

mod keys_held {
    use super::*;

    /// IAM, not only the environment, keeps the signing key from a function that only verifies:
    /// `loans` pointed at the signing secret cannot read it, and does not start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn iam_a_verifier_named_the_signing_secret_cannot_read_it() {
        let app = TestApp::spawn(Backend::AwsIam).await;
        let admin = acceptance::admin_sdk(Backend::AwsIam).await;
        let arn = acceptance::signing_secret(
            &admin,
            &app.ctx.config.signing_keys.as_ref().unwrap().to_json(),
        )
        .await;
        let (status, body) = boot_on_aws_with("loans", |vars| {
            vars.push(("JWT_SIGNING_KEYS_ARN".into(), arn.clone()));
        })
        .await;
        assert_eq!(status, 0, "loans read the signing secret: {body}");
        assert!(body.to_string().contains("JWT_SIGNING_KEYS_ARN"), "{body}");
    }
}
