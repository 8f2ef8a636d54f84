//! Every function binary booted as a real process against a local Lambda Runtime API (written
//! here) and fed its `events/<function>.json`: proves `main.rs` wiring, configuration loading and
//! the API Gateway v2 event format, which handler tests skip.

use std::path::PathBuf;
use std::time::Duration;

use acceptance::runtime_api::{self, lambda_env, Outcome, Report};
use serde_json::Value;
use shared::config::Config;
use shared::Ctx;

const SECRET: &str = "boot-test-secret-boot-test-secret-0123456789";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

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
    let user = |name: &str| {
        let ctx = &ctx;
        let name = name.to_string();
        async move { ctx.store.user_by_username(&name).await.unwrap().unwrap() }
    };
    let james = ctx.issue_tokens(&user("jblunt").await).await.unwrap();
    let admin = ctx.issue_tokens(&user("admin").await).await.unwrap();
    let event = std::fs::read_to_string(repo().join("events").join(format!("{function}.json")))
        .unwrap_or_else(|e| panic!("events/{function}.json: {e}"))
        .replace("__ACCESS_TOKEN__", &james.access)
        .replace("__REFRESH_TOKEN__", &james.refresh)
        .replace("__ADMIN_TOKEN__", &admin.access);
    drop(ctx);

    let (addr, mut reports) = runtime_api::start(event, 1).await;
    let mut child = tokio::process::Command::new(binary(function))
        .env_clear()
        .envs(lambda_env(function, addr))
        .env("BACKEND", "embedded")
        .env("DATABASE_PATH", &db)
        .env("OUTBOX_PATH", dir.path().join("outbox.jsonl"))
        .env("BLOB_DIR", dir.path().join("blobs"))
        .env("JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), done(&mut reports))
        .await
        .unwrap_or_else(|_| panic!("{function} answered nothing within 30 s"));
    let _ = child.kill().await;
    match outcome {
        Outcome::Response(v) => {
            let status = v["statusCode"].as_u64().unwrap_or(0) as u16;
            assert_eq!(
                v["headers"]["content-type"], "application/json",
                "{function}: {v}"
            );
            let body =
                serde_json::from_str(v["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
            (status, body, dir)
        }
        other => panic!("{function} did not answer with a response: {other:?}"),
    }
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

macro_rules! boots {
    ($($test:ident: $function:literal => $status:literal, |$body:ident| $check:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let (status, $body) = boot($function).await;
                assert_eq!(status, $status, "{}: {}", $function, $body);
                assert!($check, "{}: {}", $function, $body);
            }
        )*
    };
}

boots! {
    token: "token" => 200, |b| b["access"].is_string() && b["refresh"].is_string();
    token_refresh: "token-refresh" => 200, |b| b["access"].is_string();
    loans: "loans" => 200, |b| b["response"]["customer_loans"][0]["loan_id"] == "L000005";
    register: "register" => 201, |b| b["username"] == "JohnDoe0303" && b.get("password").is_none();
    verify_email: "verify-email" => 400, |b| b["error"] == "Invalid or expired verification link.";
    re_verify_email: "re-verify-email" => 201, |b| b["message"] == "New token sent";
    login: "login" => 200, |b| b["data"]["id"] == 3;
    verify_otp: "verify-otp" => 401, |b| b["error"] == "Invalid or expired code.";
    admin_approval: "admin-approval" => 200, |b| b["msg"] == "User admin approved";
    user_info: "user-info" => 200, |b| b["customer-id"] == "C003" && b["net_balance"] == 1_250_000;
    update_user: "update-user" => 200, |b| b["message"] == "Updated Successfully";
    update_username: "update-username" => 200, |b| b["msg"] == "Account Successfully Updated";
    deactivate_account: "deactivate-account" => 200, |b| b["msg"] == "Account deactivate request submitted!";
    delete_account: "delete-account" => 200, |b| b["msg"] == "Account Successfully deleted";
    avatar: "avatar" => 201, |b| b["user"]["avatar"].as_str().unwrap_or("").contains("/avatars/3/");
    upload_file: "upload-file" => 201, |b| b["url"].as_str().unwrap_or("").contains("/uploads/3/");
    dashboard: "dashboard" => 401, |b| b["error"].is_string();
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
async fn a_function_without_its_configuration_reports_an_init_error() {
    let (addr, mut reports) = runtime_api::start("{}".into(), 1).await;
    let mut child = tokio::process::Command::new(binary("loans"))
        .env_clear()
        .envs(lambda_env("loans", addr))
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
    // No JWT_SECRET: the process must exit with an error instead of serving requests.
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("it exits")
        .unwrap();
    assert!(!status.success());
    if let Ok(outcome) = tokio::time::timeout(Duration::from_millis(100), done(&mut reports)).await
    {
        match outcome {
            Outcome::InitError(report) | Outcome::Error(report) => {
                assert!(report.contains("JWT_SECRET"), "{report}")
            }
            Outcome::Response(v) => panic!("served a request without a signing key: {v}"),
        }
    }
}
