//! `make bench`: the performance budgets of ARCHITECTURE.md §10, measured on this machine and written
//! to `target/bench/report.md`. Medians of repeated runs; the cold-start budget is a ratio to a
//! bare `lambda_runtime` echo function measured in the same run, so a noisy machine moves both.

mod production;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acceptance::runtime_api::{self, lambda_env, Report};
use acceptance::{demo, moto, TestApp};
use serde_json::{json, Value};
use shared::config::Config;
use shared::Ctx;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";
/// The issuer every bench function is configured with (`PUBLIC_BASE_URL`), so prepared tokens verify.
const ISSUER: &str = "https://api.bench.example";
const COLD_STARTS: usize = 20;
const WARM_INVOCATIONS: usize = 1000;

fn release_dir() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every Lambda function of the route registry, in name order.
fn functions() -> Vec<String> {
    let mut names: Vec<String> = functions::FUNCTIONS.iter().map(|f| f.to_string()).collect();
    names.sort();
    names
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A seeded SQLite file and the function's event with demo tokens filled in.
async fn prepared(dir: &Path, function: &str) -> String {
    let ctx = Ctx::embedded(Config::embedded(
        dir.join("api.db"),
        SECRET.as_bytes().to_vec(),
    ))
    .unwrap();
    local::demo::seed(&ctx).await.unwrap();
    if function == "lambda-echo" {
        return std::fs::read_to_string(repo().join("events/loans.json")).unwrap();
    }
    acceptance::event_with_demo_tokens(&ctx, function, ISSUER).await
}

struct Run {
    init_ms: f64,
    first_response_ms: f64,
    peak_rss_kb: Vec<u64>,
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The keys `function` holds as it would in AWS: a function that holds one of the secrets of
/// `KEY_HOLDERS` gets them (derived from the bench's local secret); every other one gets only the
/// public keys, as the template's `JwtPublicKeys`, and the local download-URL key.
fn keys_of(function: &str) -> Vec<(&'static str, String)> {
    let holds_any = shared::signing::KEY_HOLDERS
        .iter()
        .any(|(_, holders)| holders.contains(&function));
    // The echo floor and the key holders: the local secret stands for their keys.
    if holds_any || function == "lambda-echo" {
        return vec![("LOCAL_SECRET", SECRET.to_string())];
    }
    let keys = shared::config::derived_signing_keys(SECRET.as_bytes());
    let blob_key = shared::crypto::hex(&shared::config::derived_key(SECRET.as_bytes(), "blob-url"));
    vec![
        ("JWT_PUBLIC_KEYS", keys.jwks().to_string()),
        ("BLOB_URL_KEY", blob_key),
    ]
}

/// Starts `function` against a Runtime API with `invocations` events; returns its timings and
/// its peak RSS after each of `checkpoints` invocations.
async fn run(
    function: &str,
    dir: &Path,
    event: &str,
    invocations: usize,
    checkpoints: &[usize],
) -> Run {
    let (addr, mut reports) = runtime_api::start(event.to_string(), invocations).await;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(release_dir().join(function))
        .env_clear()
        .envs(lambda_env(function, addr))
        .env("BACKEND", "embedded")
        .env("DATABASE_PATH", dir.join("api.db"))
        .env("OUTBOX_PATH", dir.join("outbox.jsonl"))
        .env("BLOB_DIR", dir.join("blobs"))
        .envs(keys_of(function))
        .env("PUBLIC_BASE_URL", ISSUER)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{function}: {e} (build with `cargo build --release --workspace --bins`)")
        });
    let pid = child.id().unwrap_or(0);
    let (mut init, mut first, mut done, mut rss) = (f64::NAN, f64::NAN, 0, Vec::new());
    while done < invocations {
        match tokio::time::timeout(Duration::from_secs(60), reports.recv()).await {
            Ok(Some(Report::FirstPoll(at))) => init = (at - started).as_secs_f64() * 1000.0,
            Ok(Some(Report::Done(at, _))) => {
                done += 1;
                if done == 1 {
                    first = (at - started).as_secs_f64() * 1000.0;
                }
                if checkpoints.contains(&done) {
                    rss.push(peak_rss_kb(pid));
                }
            }
            _ => break,
        }
    }
    let _ = child.kill().await;
    Run {
        init_ms: init,
        first_response_ms: first,
        peak_rss_kb: rss,
    }
}

async fn cold_and_memory(report: &mut String) {
    writeln!(
        report,
        "## Cold start, memory (release build, {} starts each; {} warm invocations)\n",
        COLD_STARTS, WARM_INVOCATIONS
    )
    .unwrap();
    writeln!(report, "| function | init median (ms) | × floor | first response median (ms) | peak RSS after 10 / {} (MB) |", WARM_INVOCATIONS).unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    let mut names = vec!["lambda-echo".to_string()];
    names.extend(functions());
    let mut floor = f64::NAN;
    for function in &names {
        let dir = tempfile::tempdir().unwrap();
        let event = prepared(dir.path(), function).await;
        let mut inits = Vec::new();
        let mut firsts = Vec::new();
        for _ in 0..COLD_STARTS {
            let r = run(function, dir.path(), &event, 1, &[]).await;
            inits.push(r.init_ms);
            firsts.push(r.first_response_ms);
        }
        let fresh = tempfile::tempdir().unwrap();
        let event = prepared(fresh.path(), function).await;
        let warm = run(
            function,
            fresh.path(),
            &event,
            WARM_INVOCATIONS,
            &[10, WARM_INVOCATIONS],
        )
        .await;
        let init = median(inits);
        if function == "lambda-echo" {
            floor = init;
        }
        let mb = |kb: Option<&u64>| {
            kb.map(|k| format!("{:.1}", *k as f64 / 1024.0))
                .unwrap_or("-".into())
        };
        writeln!(
            report,
            "| {function} | {init:.2} | {:.2} | {:.2} | {} / {} |",
            init / floor,
            median(firsts),
            mb(warm.peak_rss_kb.first()),
            mb(warm.peak_rss_kb.get(1)),
        )
        .unwrap();
        eprintln!("cold start and memory: {function} done");
    }
    writeln!(report).unwrap();
}

fn sizes(report: &mut String) {
    writeln!(report, "## Artifact size\n").unwrap();
    writeln!(
        report,
        "| function | native release binary (MB) | arm64 bootstrap.zip (MB, `make zip`) |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|").unwrap();
    for f in functions() {
        let native = std::fs::metadata(release_dir().join(&f))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(f64::NAN);
        let zip = std::fs::metadata(repo().join("target/lambda").join(&f).join("bootstrap.zip"))
            .map(|m| format!("{:.2}", m.len() as f64 / 1e6))
            .unwrap_or_else(|_| "not built".into());
        writeln!(report, "| {f} | {native:.2} | {zip} |").unwrap();
    }
    writeln!(report).unwrap();
}

/// Starts the release gateway on a fresh seeded database; returns its base URL and the process.
async fn gateway(dir: &Path) -> (String, tokio::process::Child) {
    let ctx = Ctx::embedded(Config::embedded(
        dir.join("api.db"),
        SECRET.as_bytes().to_vec(),
    ))
    .unwrap();
    local::demo::seed(&ctx).await.unwrap();
    drop(ctx);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(release_dir().join("local-gateway"))
        .env("DATABASE_PATH", dir.join("api.db"))
        .env("OUTBOX_PATH", dir.join("outbox.jsonl"))
        .env("BLOB_DIR", dir.join("blobs"))
        .env("LOCAL_SECRET", SECRET)
        .env("PORT", port.to_string())
        .env("THROTTLE_MULTIPLIER", "100000")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("local-gateway (release)");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("{base}/_local/outbox"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (base, child)
}

async fn token(client: &reqwest::Client, base: &str, user: &demo::DemoUser) -> Value {
    client
        .post(format!("{base}/token/"))
        .json(&json!({"username": user.username, "password": user.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// wrk's p50, p99 (ms) and requests per second.
fn wrk(base: &str, connections: usize, script: &Path) -> (f64, f64, f64) {
    let out = std::process::Command::new("wrk")
        .args([
            "-t",
            "1",
            "-c",
            &connections.to_string(),
            "-d",
            "5s",
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(format!("{base}/api/accounts/loans/"))
        .output()
        .expect("wrk (Debian package `wrk`)");
    let text = String::from_utf8_lossy(&out.stdout);
    let ms = |label: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(|v| {
                let (num, unit) =
                    v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
                let n: f64 = num.parse().unwrap_or(f64::NAN);
                match unit {
                    "us" => n / 1000.0,
                    "s" => n * 1000.0,
                    _ => n,
                }
            })
            .unwrap_or(f64::NAN)
    };
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    (ms("50%"), ms("99%"), rps)
}

/// Refresh chains: each rotation uses the refresh token the previous one returned.
async fn refresh_chains(client: &reqwest::Client, base: &str, chains: usize) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let started = Instant::now();
    let tasks = (0..chains).map(|_| {
        let (client, base) = (client.clone(), base.to_string());
        async move {
            let mut refresh = token(&client, &base, &demo::SARAH).await["refresh"]
                .as_str()
                .unwrap()
                .to_string();
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r: Value = client
                    .post(format!("{base}/token/refresh/"))
                    .json(&json!({ "refresh": refresh }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
                refresh = r["refresh"].as_str().expect("a rotated pair").to_string();
            }
            samples
        }
    });
    let all: Vec<f64> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect();
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    (percentile(all.clone(), 0.5), percentile(all, 0.99), rps)
}

async fn latency(report: &mut String) {
    let dir = tempfile::tempdir().unwrap();
    let (base, _gateway) = gateway(dir.path()).await;
    let client = reqwest::Client::new();
    let access = token(&client, &base, &demo::JAMES).await["access"]
        .as_str()
        .unwrap()
        .to_string();
    let script = dir.path().join("loans.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{{\"account_number\":\"{}\"}}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {access}\"\n",
            demo::JAMES_ACCOUNT
        ),
    )
    .unwrap();
    writeln!(
        report,
        "## Warm latency through the gateway (embedded backend, release build, 5 s per row)\n"
    )
    .unwrap();
    writeln!(
        report,
        "| endpoint | concurrency | p50 (ms) | p99 (ms) | requests/s |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    for c in [1, 4, 16] {
        let (p50, p99, rps) = wrk(&base, c, &script);
        writeln!(
            report,
            "| loans (wrk) | {c} | {p50:.3} | {p99:.3} | {rps:.0} |"
        )
        .unwrap();
    }
    for c in [1, 4] {
        let (p50, p99, rps) = refresh_chains(&client, &base, c).await;
        writeln!(
            report,
            "| token-refresh (rotation chains) | {c} | {p50:.3} | {p99:.3} | {rps:.0} |"
        )
        .unwrap();
    }
    writeln!(report).unwrap();

    // Hashing runs on the blocking pool: loans keeps answering while passwords are hashed.
    let hashes = (0..10)
        .map(|_| {
            let t = Instant::now();
            shared::password::hash_blocking("correct horse battery staple").unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect::<Vec<_>>();
    let loans_p99 = |n: usize| {
        let (client, base, access) = (client.clone(), base.clone(), access.clone());
        async move {
            let mut samples = Vec::new();
            for _ in 0..n {
                let t = Instant::now();
                client
                    .post(format!("{base}/api/accounts/loans/"))
                    .bearer_auth(&access)
                    .json(&json!({"account_number": demo::JAMES_ACCOUNT}))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (percentile(samples.clone(), 0.5), percentile(samples, 0.99))
        }
    };
    let idle = loans_p99(300).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hashers: Vec<_> = (0..4)
        .map(|_| {
            let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    token(&client, &base, &demo::PETER).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let busy = loans_p99(300).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut logins = 0;
    for h in hashers {
        logins += h.await.unwrap_or(0);
    }
    writeln!(
        report,
        "## Password hashing (argon2id m=19 MiB, t=2, p=1)\n"
    )
    .unwrap();
    writeln!(
        report,
        "- one hash: median {:.1} ms over 10",
        median(hashes)
    )
    .unwrap();
    writeln!(
        report,
        "- loans p50/p99 at concurrency 1: {:.3} / {:.3} ms idle; {:.3} / {:.3} ms while 4 clients sign in without pause ({logins} sign-ins hashed meanwhile, 2 cores)\n",
        idle.0, idle.1, busy.0, busy.1
    )
    .unwrap();
}

async fn dynamodb_round_trips(report: &mut String) {
    let emulator = moto::Dedicated::start();
    let url = emulator.url();
    let sdk = moto::sdk_config_at(&url).await;
    // Verifiers given the published keys at cold start (`JwtPublicKeys`), as a deployment should:
    // otherwise a function's first token check adds one read of them.
    let app = TestApp::spawn_on(sdk, |c| {
        c.throttle_multiplier = 1000;
        c.public_keys = c.signing_keys.as_ref().map(|k| k.public());
    })
    .await;
    let counts = || moto::take_operation_counts(&url);
    let user = app.new_user("CUSTOMER").await;
    let (access, refresh) = app.session(&user).await;
    let james = app.access_token(&demo::JAMES).await;
    // The Fintract routes need a sign-in with the code (a password-grant token gets 403 there,
    // which would measure a refusal).
    let admin = app.code_token(&demo::ADMIN).await;
    let james_code = app.code_token(&demo::JAMES).await;
    // Every request measured must succeed.
    let served = |a: acceptance::Answer, what: &str| {
        assert!(a.status < 300, "{what}: {} {:?}", a.status, a.body);
    };
    writeln!(
        report,
        "## DynamoDB requests per endpoint (counted at the emulator, one warm request each)\n"
    )
    .unwrap();
    writeln!(
        report,
        "| endpoint | requests | by operation (counter table included) |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|").unwrap();
    let mut row = |name: &str, v: Value| {
        let total: u64 = v
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        writeln!(report, "| {name} | {total} | {} |", v).unwrap();
    };
    // A process's first counted answer also notes its part count (ARCHITECTURE.md §7): every
    // route answers once first (a refusal, mostly), so that each row is a warm request's.
    for e in functions::routes().iter().filter(|r| r.counted) {
        let method = reqwest::Method::from_bytes(e.method.as_str().as_bytes()).unwrap();
        let path = e.path.replace("{id}", "1");
        app.send(app.client.request(method, app.url(&path))).await;
    }
    counts().await;
    app.token(demo::JAMES.username, demo::JAMES.password).await;
    row("POST /token/", counts().await);
    app.refresh(&refresh).await;
    row("POST /token/refresh/", counts().await);
    app.loans(demo::JAMES_ACCOUNT, Some(&james)).await;
    row("POST /api/accounts/loans/", counts().await);
    let body = app.registration("CUSTOMER");
    app.register(&body, None).await;
    row("POST /auth/register/", counts().await);
    let link = app.link_sent_to(body["email"].as_str().unwrap()).await;
    counts().await;
    app.send(app.client.get(app.url(&link))).await;
    row("GET /auth/verify-email/", counts().await);
    app.post_json(
        "/auth/re-verify-email/",
        &json!({"email": user.email}),
        None,
    )
    .await;
    row("POST /auth/re-verify-email/", counts().await);
    app.login(&user.email, &user.password, "Email").await;
    row("POST /auth/login/", counts().await);
    let code = app.code_sent_to(&user.email).await;
    counts().await;
    app.verify_otp(user.id, &code).await;
    row("POST /auth/login/{id}/", counts().await);
    let a = app
        .post_json(
            "/auth/admin_approval/",
            &json!({"customer_id": user.customer_id}),
            Some(&admin),
        )
        .await;
    served(a, "admin approval");
    row("POST /auth/admin_approval/", counts().await);
    app.call(
        "GET",
        &format!("/auth/info/{}/", user.id),
        None,
        Some(&access),
    )
    .await;
    row("GET /auth/info/{id}/", counts().await);
    app.call(
        "PATCH",
        &format!("/auth/update/usr/{}/", user.id),
        Some(&json!({"country": "UG"})),
        Some(&access),
    )
    .await;
    row("PATCH /auth/update/usr/{id}/", counts().await);
    app.call(
        "PUT",
        "/auth/user-update/",
        Some(&json!({"username": format!("{}x", user.username), "name": "N"})),
        Some(&access),
    )
    .await;
    row("PUT /auth/user-update/", counts().await);
    let a = app.call("POST", "/auth/phone/", None, Some(&access)).await;
    served(a, "phone code");
    row("POST /auth/phone/", counts().await);
    let code = app.code_sent_to(&user.phone).await;
    counts().await;
    let a = app
        .call(
            "POST",
            "/auth/phone/confirm/",
            Some(&json!({ "code": code })),
            Some(&access),
        )
        .await;
    served(a, "phone confirmation");
    row("POST /auth/phone/confirm/", counts().await);
    let (other, _) = app.session(&user).await;
    counts().await;
    let a = app
        .call("GET", "/auth/sessions/", None, Some(&access))
        .await;
    row("GET /auth/sessions/", counts().await);
    let id = a.body["sessions"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["current"] == false))
        .and_then(|s| s["id"].as_str())
        .expect("a second session")
        .to_string();
    let a = app
        .call(
            "DELETE",
            &format!("/auth/sessions/{id}/"),
            None,
            Some(&access),
        )
        .await;
    served(a, "ending a session");
    row("DELETE /auth/sessions/{id}/", counts().await);
    drop(other);
    let (third, _) = app.session(&user).await;
    counts().await;
    let a = app.call("POST", "/auth/logout/", None, Some(&third)).await;
    served(a, "logout");
    row("POST /auth/logout/", counts().await);
    // Recovery and the authenticator app, on an account of their own (a password change ends
    // every session, which the rows below still use).
    let mut other = app.new_user("CUSTOMER").await;
    counts().await;
    let a = app
        .post_json(
            "/auth/password-reset/",
            &json!({ "email": other.email }),
            None,
        )
        .await;
    served(a, "reset request");
    row("POST /auth/password-reset/", counts().await);
    let mail = app.last_message_to(&other.email).await;
    let token = mail
        .split("token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .expect("a reset link")
        .to_string();
    let reset = "Entebbe harbour kite 17";
    counts().await;
    let a = app
        .post_json(
            "/auth/password-reset/confirm/",
            &json!({"token": token, "password": reset, "password2": reset}),
            None,
        )
        .await;
    served(a, "reset");
    row("POST /auth/password-reset/confirm/", counts().await);
    other.password = reset.into();
    let (other_access, _) = app.session(&other).await;
    let changed = "Jinja falls copper 63";
    counts().await;
    let a = app
        .call(
            "PUT",
            "/auth/change-password/",
            Some(&json!({"current_password": reset, "password": changed, "password2": changed})),
            Some(&other_access),
        )
        .await;
    let other_access = a.body["tokens"]["access"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    served(a, "password change");
    row("PUT /auth/change-password/", counts().await);
    other.password = changed.into();
    let a = app
        .call(
            "POST",
            "/auth/authenticator/",
            Some(&json!({ "current_password": changed })),
            Some(&other_access),
        )
        .await;
    let uri = a.body["data"]["otpauth_uri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    served(a, "enrolment");
    row("POST /auth/authenticator/", counts().await);
    let app_code = |app: &TestApp| {
        totp_rs::TOTP::from_url(&uri)
            .expect("an otpauth URI")
            .generate(app.ctx.now() as u64)
    };
    let a = app
        .call(
            "POST",
            "/auth/authenticator/confirm/",
            Some(&json!({ "code": app_code(&app) })),
            Some(&other_access),
        )
        .await;
    served(a, "authenticator on");
    row("POST /auth/authenticator/confirm/", counts().await);
    app.ctx.config.clock.advance(30);
    let a = app.login(&other.email, &other.password, "Totp").await;
    let attempt = a.body["data"]["attempt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    served(a, "login for the app");
    row("POST /auth/login/ (otpType Totp)", counts().await);
    let a = app
        .post_json(
            &format!("/auth/login/{}/", other.id),
            &json!({"otp": app_code(&app), "attempt": attempt}),
            None,
        )
        .await;
    // Turning the app on ended every session: the removal is made from this new one.
    let other_access = a.body["tokens"]["access"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    served(a, "app code");
    row("POST /auth/login/{id}/ (app code)", counts().await);
    app.ctx.config.clock.advance(30);
    let a = app
        .call(
            "POST",
            "/auth/authenticator/recovery-codes/",
            Some(&json!({ "code": app_code(&app) })),
            Some(&other_access),
        )
        .await;
    served(a, "new recovery codes");
    row("POST /auth/authenticator/recovery-codes/", counts().await);
    app.ctx.config.clock.advance(30);
    let a = app
        .call(
            "DELETE",
            "/auth/authenticator/",
            Some(&json!({ "code": app_code(&app) })),
            Some(&other_access),
        )
        .await;
    served(a, "authenticator off");
    row("DELETE /auth/authenticator/", counts().await);
    let a = app
        .call("PUT", "/auth/account-deactivate/", None, Some(&james_code))
        .await;
    served(a, "deactivation");
    row("PUT /auth/account-deactivate/", counts().await);
    let a = app
        .call("DELETE", "/auth/delete/", None, Some(&access))
        .await;
    served(a, "deletion");
    row("DELETE /auth/delete/", counts().await);
    let a = app
        .call("POST", "/auth/logout-all/", None, Some(&admin))
        .await;
    served(a, "logout-all");
    row("POST /auth/logout-all/", counts().await);
    writeln!(report).unwrap();
}

/// What checking one access token costs (EdDSA through `jsonwebtoken`: header, key lookup,
/// signature, claims), against the floor of the scheme it replaced measured in the same run: one
/// HMAC-SHA256 over the same signing input, which is all of an HS256 check's cryptography.
fn token_check(report: &mut String) {
    use hmac::Mac;
    use shared::jwt::{Claims, Signer, TokenType, Verifier, AUD_DFCU};
    const N: u32 = 20_000;
    let keys = shared::config::derived_signing_keys(SECRET.as_bytes());
    let (signer, verifier) = (Signer::of(&keys).unwrap(), Verifier::of(&keys));
    let now = shared::now();
    let token = signer
        .sign(&Claims {
            iss: ISSUER.into(),
            sub: "3".into(),
            aud: AUD_DFCU.into(),
            token_type: TokenType::Access,
            jti: shared::jwt::random_id(),
            iat: now,
            exp: now + 300,
            ver: 0,
            fam: None,
            auth_time: None,
            amr: vec!["pwd".into()],
        })
        .unwrap();
    let (input, _) = token.rsplit_once('.').unwrap();
    // The best of five runs of N checks, in microseconds per check.
    let per_check = |check: &dyn Fn()| {
        (0..5)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..N {
                    check();
                }
                started.elapsed().as_secs_f64() * 1e6 / f64::from(N)
            })
            .fold(f64::INFINITY, f64::min)
    };
    let eddsa = per_check(&|| {
        std::hint::black_box(
            verifier
                .verify(&token, TokenType::Access, ISSUER, now)
                .unwrap(),
        );
    });
    let hs256 = per_check(&|| {
        let mut mac = shared::crypto::hmac(SECRET.as_bytes());
        mac.update(input.as_bytes());
        std::hint::black_box(mac.finalize());
    });
    writeln!(report, "## Token check (best of 5 × {N}, one core)\n").unwrap();
    writeln!(report, "| check | µs per token | × floor |").unwrap();
    writeln!(report, "|---|---|---|").unwrap();
    writeln!(
        report,
        "| floor: HMAC-SHA256 of the signing input (the HS256 scheme's check) | {hs256:.2} | 1.0 |"
    )
    .unwrap();
    writeln!(
        report,
        "| EdDSA check through jsonwebtoken (every verifying request) | {eddsa:.2} | {:.1} |\n",
        eddsa / hs256
    )
    .unwrap();
}

#[tokio::main]
async fn main() {
    let mut report = String::from("# Benchmark report\n\n");
    writeln!(
        report,
        "Machine: {} cores; `make bench`.\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    )
    .unwrap();
    // `BENCH_ONLY=dynamodb` (or a comma-separated list of cold, production, sizes, tokens,
    // latency, dynamodb) runs only those sections; unset, all of them. `BENCH_FULL=1` (`make
    // bench-full`) measures every function on the production path, not only loans.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |section: &str| only.is_empty() || only.split(',').any(|s| s.trim() == section);
    if runs("cold") {
        cold_and_memory(&mut report).await;
    }
    if runs("production") {
        let full = std::env::var_os("BENCH_FULL").is_some();
        let names = if full {
            functions()
        } else {
            vec!["loans".to_string()]
        };
        production::production_path(&mut report, &names, 5).await;
    }
    if runs("sizes") {
        sizes(&mut report);
    }
    if runs("tokens") {
        token_check(&mut report);
    }
    if runs("latency") {
        latency(&mut report).await;
    }
    if runs("dynamodb") {
        dynamodb_round_trips(&mut report).await;
    }
    let out = repo().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report.md"), &report).unwrap();
    println!("{report}");
}
