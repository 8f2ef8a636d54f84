//! Cold start on the production path, as Lambda runs a function: `BACKEND=aws`, every AWS call
//! over HTTPS to the emulator behind a certificate authority made here (trusted through a bundle
//! of the system roots plus it, as Lambda's runtime trusts its own bundle), and the CPU share of a
//! 128 MB or 512 MB Lambda enforced by a CFS quota (cgroup v1 `cpu.cfs_quota_us` or v2
//! `cpu.max`; the bench runs as root). Each function alternates with the bare `lambda_runtime`
//! echo under the same quota, so a noisy machine moves both; the loans function also alternates
//! with a Python team's version of it (`tests/peer/`, written for the bench only).
//!
//! Lambda gives one vCPU at 1,769 MB and CPU in proportion below it: 128 MB is 7.2% of a core.
//! A CFS quota lets a process run its share of each period, then stalls it for the rest, so the
//! period shapes a cold start that is mostly short bursts: both 100 ms (the kernel's default) and
//! 10 ms are measured. The kernel's smallest quota is 1 ms, so 7.2% of a 10 ms period (0.72 ms)
//! cannot be set: that row runs 1 ms per 13.8 ms, the same share at the shortest period the kernel
//! allows. Whether Lambda's init phase runs at the configured share is not settled in published
//! observations, so each quota is measured both ways: on the whole process, and only from the
//! function's first call for work (its init at full speed).

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use acceptance::runtime_api::{self, lambda_env, Outcome, Report};
use acceptance::{moto, TestApp};
use serde_json::Value;

use super::{median, release_dir, repo, ISSUER};

/// Lambda's memory size at which a function gets one whole vCPU.
const MB_PER_VCPU: f64 = 1769.0;
/// The smallest CFS quota the kernel accepts.
const MIN_QUOTA_US: u64 = 1000;

/// A CPU limit: Lambda's share at `memory_mb`, as `quota_us` per `period_us`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub memory_mb: u32,
    pub period_us: u64,
    pub quota_us: u64,
    /// Applied from the function's first call for work: its init ran at full speed.
    pub after_init: bool,
}

impl Limit {
    /// Lambda's CPU share at `memory_mb` over a period of `period_us`, or the shortest period
    /// that can express it (see the module comment).
    pub fn lambda(memory_mb: u32, period_us: u64, after_init: bool) -> Limit {
        let share = memory_mb as f64 / MB_PER_VCPU;
        let quota = (period_us as f64 * share).round() as u64;
        let (period_us, quota_us) = if quota < MIN_QUOTA_US {
            ((MIN_QUOTA_US as f64 / share).round() as u64, MIN_QUOTA_US)
        } else {
            (period_us, quota)
        };
        Limit {
            memory_mb,
            period_us,
            quota_us,
            after_init,
        }
    }

    fn label(&self) -> String {
        format!(
            "{} MB: {:.2} ms of CPU per {:.1} ms, {}",
            self.memory_mb,
            self.quota_us as f64 / 1000.0,
            self.period_us as f64 / 1000.0,
            if self.after_init {
                "after init"
            } else {
                "whole process"
            }
        )
    }
}

/// A CPU cgroup holding one limit; processes are admitted by pid and the group is removed when
/// dropped (after its processes ended).
struct Cgroup {
    dir: PathBuf,
    procs: std::fs::File,
}

impl Cgroup {
    fn new(name: &str, limit: &Limit) -> std::io::Result<Cgroup> {
        let v1 = Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists();
        let dir = if v1 {
            let dir = Path::new("/sys/fs/cgroup/cpu").join(name);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("cpu.cfs_period_us"), limit.period_us.to_string())?;
            std::fs::write(dir.join("cpu.cfs_quota_us"), limit.quota_us.to_string())?;
            dir
        } else {
            let root = Path::new("/sys/fs/cgroup");
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu");
            let dir = root.join(name);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(
                dir.join("cpu.max"),
                format!("{} {}", limit.quota_us, limit.period_us),
            )?;
            dir
        };
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))?;
        Ok(Cgroup { dir, procs })
    }

    fn admit(&self, pid: u32) -> std::io::Result<()> {
        (&self.procs).write_all(pid.to_string().as_bytes())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// What is started: a function binary, the echo floor, or the Python peer.
struct Subject {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    event: String,
    /// Each start acts as a user made for it ([`fresh_event`]): most functions change their
    /// caller (sign out, deactivate, delete), which would turn every later start into a 401.
    fresh: bool,
}

impl Subject {
    /// The event of its next start.
    async fn next_event(&self, app: &TestApp) -> String {
        if self.fresh {
            fresh_event(&self.name, app).await
        } else {
            self.event.clone()
        }
    }
}

struct Sample {
    init_ms: f64,
    first_ms: f64,
    status: u16,
    /// CPU time the process used, user and system, until its first response was in.
    cpu_ms: f64,
    /// Requests the emulator served during this cold start (and the warm invocations after it).
    emulator_calls: u64,
    warm_ms: Vec<f64>,
}

/// The emulator's count of requests served (`GET /_requests`, see `tests/moto_serial.py`).
async fn emulator_requests(plain_url: &str) -> u64 {
    let v: Value = reqwest::get(format!("{plain_url}/_requests"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("the emulator's request count")
        .json()
        .await
        .expect("JSON");
    v["requests"].as_u64().unwrap_or(0)
}

/// Writes `pid` (as decimal) to `fd` without allocating: safe between fork and exec.
fn write_pid(fd: i32) -> std::io::Result<()> {
    let mut pid = unsafe { libc::getpid() } as u32;
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (pid % 10) as u8;
        pid /= 10;
        if pid == 0 {
            break;
        }
    }
    let written = unsafe { libc::write(fd, digits[at..].as_ptr().cast(), digits.len() - at) };
    if written < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Reaps the (killed) process `pid` and answers the CPU time it used, user and system.
fn cpu_time_ms(pid: u32) -> f64 {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    if reaped != pid as i32 {
        return f64::NAN;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// One cold start of `subject` under `limit` (none: the whole machine), in a cgroup of its own:
/// one shared across starts would let a process inherit a period its predecessor had spent.
/// With `invocations` over 1, the later ones are warm: each one's time is in `warm_ms`.
async fn cold_start(
    subject: &Subject,
    event: String,
    limit: Option<&Limit>,
    plain_url: &str,
    invocations: usize,
) -> Sample {
    let group = limit.map(|l| {
        Cgroup::new(&format!("dfcu-bench-{}", std::process::id()), l).expect("a CPU cgroup")
    });
    let limit = limit.zip(group.as_ref());
    let (addr, mut reports) = runtime_api::start(event, invocations).await;
    let before = emulator_requests(plain_url).await;
    let memory = limit.map(|(l, _)| l.memory_mb).unwrap_or(128);
    let mut command = tokio::process::Command::new(&subject.program);
    command
        .args(&subject.args)
        .env_clear()
        .envs(lambda_env(&subject.name, addr))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string())
        .envs(subject.env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some((l, group)) = limit {
        if !l.after_init {
            // In the group from its first instruction: the quota covers the whole process.
            let fd = group.procs.as_raw_fd();
            unsafe {
                command.pre_exec(move || write_pid(fd));
            }
        }
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", subject.program.display()));
    let pid = child.id().unwrap_or(0);
    let (mut init, mut first, mut status) = (f64::NAN, f64::NAN, 0);
    let (mut done, mut last, mut warm_ms) = (0, started, Vec::new());
    loop {
        match tokio::time::timeout(Duration::from_secs(120), reports.recv()).await {
            Ok(Some(Report::FirstPoll(at))) => {
                init = (at - started).as_secs_f64() * 1000.0;
                if let Some((l, group)) = limit {
                    if l.after_init {
                        group.admit(pid).expect("admit to the cgroup");
                    }
                }
            }
            Ok(Some(Report::Done(at, outcome))) => {
                done += 1;
                if done == 1 {
                    first = (at - started).as_secs_f64() * 1000.0;
                } else {
                    warm_ms.push((at - last).as_secs_f64() * 1000.0);
                }
                last = at;
                let answered = match outcome {
                    Outcome::Response(v) => v["statusCode"].as_u64().unwrap_or(0) as u16,
                    Outcome::Error(e) | Outcome::InitError(e) => {
                        eprintln!("{}: {e}", subject.name);
                        0
                    }
                };
                status = status.max(answered);
                if done == invocations || answered == 0 {
                    break;
                }
            }
            _ => break,
        }
    }
    let _ = child.start_kill();
    let cpu_ms = tokio::task::spawn_blocking(move || cpu_time_ms(pid))
        .await
        .unwrap_or(f64::NAN);
    drop(child);
    let after = emulator_requests(plain_url).await;
    Sample {
        init_ms: init,
        first_ms: first,
        status,
        cpu_ms,
        emulator_calls: after.saturating_sub(before),
        warm_ms,
    }
}

/// The certificate authority and the emulator's certificate (RSA 2048, as AWS's endpoints use),
/// made with `openssl`; and the bundle functions trust: the system roots plus this authority.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    bundle: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The system's root bundle, where Debian and Amazon Linux keep it.
fn system_roots() -> Option<PathBuf> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn make_pki(dir: &Path) -> Pki {
    let days = "2";
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            days,
            "-subj",
            "/CN=bench CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            days,
            "-extfile",
            "san.ext",
        ],
    );
    let mut bundle = system_roots()
        .map(|p| std::fs::read(p).unwrap())
        .unwrap_or_default();
    bundle.extend(std::fs::read(dir.join("ca.pem")).unwrap());
    std::fs::write(dir.join("bundle.pem"), bundle).unwrap();
    Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        bundle: dir.join("bundle.pem"),
    }
}

/// An SDK configuration that reaches the emulator over TLS trusting only the bench's authority.
async fn tls_sdk(url: &str, ca: &Path) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty().with_pem_certificate(std::fs::read(ca).unwrap());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .http_client(http)
        .load()
        .await
}

/// The emulator's own time per call over a warm TLS connection: the median of the calls a loans
/// request makes (user read, account query, counter update), each timed alone.
async fn emulator_call_ms(url: &str, ca: &Path, app: &TestApp) -> f64 {
    use aws_sdk_dynamodb::types::AttributeValue;
    let sdk = tls_sdk(url, ca).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let (table, counters) = (
        &app.ctx.config.table_name,
        &app.ctx.config.counter_table_name,
    );
    let s = |v: &str| AttributeValue::S(v.to_string());
    let james = app
        .ctx
        .store
        .user_by_username(acceptance::demo::JAMES.username)
        .await
        .unwrap()
        .unwrap();
    let mut times = Vec::new();
    for round in 0..31 {
        let t = Instant::now();
        client
            .get_item()
            .table_name(table)
            .key("pk", s(&format!("USER#{}", james.id)))
            .key("sk", s("PROFILE"))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        let get = t.elapsed();
        let t = Instant::now();
        client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                s(&format!("ACCOUNT#{}", acceptance::demo::JAMES_ACCOUNT)),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("Query");
        let query = t.elapsed();
        let t = Instant::now();
        client
            .update_item()
            .table_name(counters)
            .key("pk", s("D#0"))
            .key("sk", s("bench"))
            .update_expression("ADD #c :one")
            .expression_attribute_names("#c", "positive")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .expect("UpdateItem");
        let update = t.elapsed();
        // The first round opens the connection: not the emulator's time.
        if round > 0 {
            times.extend([get, query, update].map(|d| d.as_secs_f64() * 1000.0));
        }
    }
    median(times)
}

/// `events/<function>.json` with tokens issued by `app`, for the bench's issuer.
async fn event_for(function: &str, app: &TestApp) -> String {
    if function == "loans" {
        return acceptance::event_with_demo_tokens(&app.ctx, function, ISSUER).await;
    }
    // The customer's tokens are filled in by `fresh_event`.
    let path = repo().join("events").join(format!("{function}.json"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .replace("__ACCESS_TOKEN__", "__FRESH_ACCESS__")
        .replace("__REFRESH_TOKEN__", "__FRESH_REFRESH__")
        .replace("__ADMIN_TOKEN__", &admin_access(app).await)
}

async fn admin_access(app: &TestApp) -> String {
    let admin = app.stored(&acceptance::demo::ADMIN).await;
    let code = shared::jwt::Earned::PasswordAndCode;
    app.ctx
        .issue_tokens(ISSUER, &admin, code)
        .await
        .unwrap()
        .access
}

/// The password of the customers [`fresh_event`] makes, and its hash (made once: a hash per start
/// would cost the bench more than the starts).
const FRESH_PASSWORD: &str = "a fresh bench passphrase 42";
static FRESH_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `events/<function>.json` as a customer stored for this start (verified and approved), with
/// its tokens, and its username, address and password where the event has the demo customer's.
async fn fresh_event(function: &str, app: &TestApp) -> String {
    let hash =
        FRESH_HASH.get_or_init(|| shared::password::hash_blocking(FRESH_PASSWORD).expect("a hash"));
    let mut attempts = 0;
    let user = loop {
        let username = acceptance::unique("bench");
        let mut new = shared::model::NewUser::sample(&username, shared::model::UserType::Customer);
        new.email = format!("{username}@example.com");
        new.phone = acceptance::unique_phone();
        new.customer_id = format!("B{}", username.trim_start_matches("bench"));
        new.password_hash = hash.clone();
        new.created_at = app.ctx.now();
        match app.ctx.store.create_user(new).await.expect("the store") {
            Ok(user) => break user,
            // Seen once in a full run and not traced (the names are unique to this process):
            // a refused creation is retried under another name, and said.
            Err(taken) if attempts < 5 => {
                attempts += 1;
                eprintln!("fresh user refused ({taken:?}); another");
            }
            Err(taken) => panic!("no fresh user: {taken:?}"),
        }
    };
    let tokens = app
        .ctx
        .issue_tokens(ISSUER, &user, shared::jwt::Earned::PasswordAndCode)
        .await
        .unwrap();
    let james = &acceptance::demo::JAMES;
    event_for(function, app)
        .await
        .replace(james.password, FRESH_PASSWORD)
        .replace(james.email, &user.email)
        .replace(james.username, &user.username)
        .replace(
            &format!("/usr/{}/", app.stored(james).await.id),
            &format!("/usr/{}/", user.id),
        )
        .replace("__FRESH_ACCESS__", &tokens.access)
        .replace("__FRESH_REFRESH__", &tokens.refresh)
}

/// The environment the template gives every function, pointed at the emulator over TLS; and
/// the ARN of each key `function` holds, read from Secrets Manager at init as in AWS.
fn aws_env(
    function: &str,
    app: &TestApp,
    tls_url: &str,
    bundle: &Path,
    secrets: &[(&'static str, String)],
) -> Vec<(String, String)> {
    let config = &app.ctx.config;
    let public = config
        .signing_keys
        .as_ref()
        .expect("the test keys")
        .jwks()
        .to_string();
    let mut env: Vec<(String, String)> = [
        ("BACKEND", "aws"),
        ("AWS_ENDPOINT_URL", tls_url),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("TABLE_NAME", &config.table_name),
        ("COUNTER_TABLE_NAME", &config.counter_table_name),
        ("BUCKET_NAME", &config.bucket_name),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("MAIL_FROM", &config.mail_from),
        ("PUBLIC_BASE_URL", ISSUER),
        ("JWT_PUBLIC_KEYS", &public),
        ("RUST_LOG", "error"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // The trust bundle: rustls-native-certs reads SSL_CERT_FILE, botocore AWS_CA_BUNDLE.
    let bundle = bundle.display().to_string();
    env.push(("SSL_CERT_FILE".into(), bundle.clone()));
    env.push(("AWS_CA_BUNDLE".into(), bundle));
    for (variable, arn) in secrets {
        if shared::signing::holds(function, variable) {
            env.push((variable.to_string(), arn.clone()));
        }
    }
    env
}

/// The memory sizes the cost table compares.
const MEMORY_SIZES: [u32; 4] = [128, 256, 512, 1024];

/// No limit, then 128 and 512 MB at both periods, both ways; 256 and 1,024 MB at 100 ms on the
/// whole process (for the cost table). `BENCH_LIMITS=128` (or a list of memory sizes, `none` for
/// no limit) narrows it, for quick comparisons while cutting.
fn limits() -> Vec<Option<Limit>> {
    let wanted = std::env::var("BENCH_LIMITS").unwrap_or_default();
    let wants = |what: &str| wanted.is_empty() || wanted.split(',').any(|w| w.trim() == what);
    let mut all = Vec::new();
    if wants("none") {
        all.push(None);
    }
    for memory in MEMORY_SIZES {
        if !wants(&memory.to_string()) {
            continue;
        }
        let every_way = memory == 128 || memory == 512;
        for period in [100_000, 10_000] {
            for after_init in [false, true] {
                if every_way || (period == 100_000 && !after_init) {
                    all.push(Some(Limit::lambda(memory, period, after_init)));
                }
            }
        }
    }
    all
}

/// Lambda's arm64 prices (us-east-1, 2026): per GB-second of billed duration, and per request.
/// A custom runtime's init is billed with its first invocation.
const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
const PRICE_PER_REQUEST: f64 = 0.000_000_2;

/// Dollars per million requests of `ms` billed duration each at `memory_mb`.
fn cost_per_million(ms: f64, memory_mb: u32) -> f64 {
    let billed_seconds = ms.ceil() / 1000.0;
    1e6 * (billed_seconds * memory_mb as f64 / 1024.0 * PRICE_PER_GB_SECOND + PRICE_PER_REQUEST)
}

/// Cold and warm latency and cost of `subjects` (loans and its peer) at each memory size, under
/// its CPU share over 100 ms periods on the whole process: the table a memory size is chosen by.
async fn cost_table(
    report: &mut String,
    subjects: &[&Subject],
    app: &TestApp,
    plain: &str,
    rounds: usize,
) {
    writeln!(
        report,
        "### Memory size: latency and cost (CPU share over 100 ms periods, whole process; cold is \
         process start to first response, billed whole for a custom runtime; warm is the median of \
         10 invocations after it; arm64 prices)\n"
    )
    .unwrap();
    writeln!(
        report,
        "| function | memory (MB) | cold (ms) | warm (ms) | $ per million cold | $ per million warm |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|---|---|---|").unwrap();
    for subject in subjects {
        for memory in MEMORY_SIZES {
            let limit = Limit::lambda(memory, 100_000, false);
            let (mut cold, mut warm) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                let event = subject.next_event(app).await;
                let s = cold_start(subject, event, Some(&limit), plain, 11).await;
                cold.push(s.first_ms);
                warm.extend(s.warm_ms);
            }
            let (cold, warm) = (median(cold), median(warm));
            writeln!(
                report,
                "| {} | {memory} | {cold:.1} | {warm:.1} | {:.2} | {:.2} |",
                subject.name,
                cost_per_million(cold, memory),
                cost_per_million(warm, memory),
            )
            .unwrap();
        }
    }
    writeln!(report).unwrap();
}

struct Row {
    init: Vec<f64>,
    first: Vec<f64>,
    statuses: Vec<u16>,
    calls: Vec<u64>,
    cpu: Vec<f64>,
}

/// The production-path table: `names` (loans, or every function) with the echo floor, and the
/// Python peer beside loans, under every limit; `rounds` cold starts each.
pub async fn production_path(report: &mut String, names: &[String], rounds: usize) {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = make_pki(pki_dir.path());
    let emulator = moto::Dedicated::start_with_tls(&pki.cert, &pki.key);
    let plain = emulator.url();
    let tls_url = emulator.tls_url().unwrap();
    let sdk = moto::sdk_config_at(&plain).await;
    let app = TestApp::spawn_on(sdk.clone(), |c| {
        c.public_base_url = Some(ISSUER.to_string());
        c.throttle_multiplier = 1000;
    })
    .await;
    let config = &app.ctx.config;
    let signing = config.signing_keys.as_ref().unwrap().to_json();
    let text = |key: &Option<Vec<u8>>| {
        key.clone()
            .and_then(|k| String::from_utf8(k).ok())
            .unwrap_or_else(|| "x".repeat(40))
    };
    let mut secrets = Vec::new();
    for (variable, value) in [
        ("JWT_SIGNING_KEYS_ARN", signing),
        ("OTP_KEY_ARN", text(&config.otp_key)),
        ("DASHBOARD_KEY_ARN", text(&config.dashboard_key)),
    ] {
        secrets.push((variable, acceptance::signing_secret(&sdk, &value).await));
    }
    let call_ms = emulator_call_ms(&tls_url, &pki.ca, &app).await;

    let echo = Subject {
        name: "lambda-echo".into(),
        program: release_dir().join("lambda-echo"),
        args: vec![],
        env: aws_env("lambda-echo", &app, &tls_url, &pki.bundle, &[]),
        event: event_for("loans", &app).await,
        fresh: false,
    };
    let mut subjects = vec![echo];
    for name in names {
        subjects.push(Subject {
            name: name.clone(),
            program: release_dir().join(name),
            args: vec![],
            env: aws_env(name, &app, &tls_url, &pki.bundle, &secrets),
            event: event_for(name, &app).await,
            fresh: name != "loans",
        });
    }
    let python = repo().join(".venv-peer/bin/python");
    let peer = names.iter().any(|n| n == "loans")
        && python.exists()
        && std::env::var("BENCH_PEER").as_deref() != Ok("off");
    if peer {
        subjects.push(Subject {
            name: "loans (Python peer)".into(),
            program: python,
            args: vec![repo().join("tests/peer/bootstrap.py").display().to_string()],
            env: aws_env("loans-python", &app, &tls_url, &pki.bundle, &[]),
            event: event_for("loans", &app).await,
            fresh: false,
        });
    }

    writeln!(
        report,
        "## Cold start on the production path (BACKEND=aws, HTTPS to the emulator, {rounds} \
         alternating cold starts each; medians)\n"
    )
    .unwrap();
    writeln!(
        report,
        "The emulator's own time per call over a warm TLS connection (median of GetItem, Query, \
         UpdateItem): **{call_ms:.2} ms**. \"Floor + emulator\" is the echo's first response plus \
         the function's emulator calls at that price.{}\n",
        if peer {
            ""
        } else {
            " The Python peer was not run: `make bench` installs it in `.venv-peer`."
        }
    )
    .unwrap();
    let mut budgets: Vec<String> = Vec::new();
    let started = Instant::now();
    for limit in limits() {
        if let Some(l) = &limit {
            if let Err(e) = Cgroup::new(&format!("dfcu-bench-{}", std::process::id()), l) {
                writeln!(
                    report,
                    "### {}\n\nNot measured: no CPU cgroup ({e}; the bench needs root).\n",
                    l.label()
                )
                .unwrap();
                continue;
            }
        }
        let mut rows: Vec<Row> = subjects
            .iter()
            .map(|_| Row {
                init: vec![],
                first: vec![],
                statuses: vec![],
                calls: vec![],
                cpu: vec![],
            })
            .collect();
        for _ in 0..rounds {
            for (subject, row) in subjects.iter().zip(rows.iter_mut()) {
                let event = subject.next_event(&app).await;
                let s = cold_start(subject, event, limit.as_ref(), &plain, 1).await;
                row.init.push(s.init_ms);
                row.first.push(s.first_ms);
                row.statuses.push(s.status);
                row.calls.push(s.emulator_calls);
                row.cpu.push(s.cpu_ms);
            }
        }
        let title = limit
            .as_ref()
            .map(Limit::label)
            .unwrap_or_else(|| "No CPU limit".into());
        writeln!(report, "### {title}\n").unwrap();
        writeln!(
            report,
            "| function | status | init (ms) | init × floor | first response (ms) | CPU used (ms) | emulator calls | × (floor + emulator) |"
        )
        .unwrap();
        writeln!(report, "|---|---|---|---|---|---|---|---|").unwrap();
        let floor_init = median(rows[0].init.clone());
        let floor_first = median(rows[0].first.clone());
        let mut rust_loans_first = f64::NAN;
        for (subject, row) in subjects.iter().zip(&rows) {
            let init = median(row.init.clone());
            let first = median(row.first.clone());
            let calls = row.calls.iter().copied().max().unwrap_or(0);
            let expected = floor_first + calls as f64 * call_ms;
            let statuses: std::collections::BTreeSet<u16> = row.statuses.iter().copied().collect();
            writeln!(
                report,
                "| {} | {} | {init:.1} | {:.2} | {first:.1} | {:.1} | {calls} | {:.2} |",
                subject.name,
                if subject.name == "lambda-echo" {
                    "-".to_string()
                } else {
                    format!("{statuses:?}")
                },
                init / floor_init,
                median(row.cpu.clone()),
                first / expected,
            )
            .unwrap();
            if subject.name == "loans" {
                rust_loans_first = first;
                if limit.is_none() {
                    budgets.push(format!(
                        "loans init, no CPU limit: {:.2}× the floor (budget 2×): {}",
                        init / floor_init,
                        verdict(init / floor_init <= 2.0)
                    ));
                }
                if let Some(l) = limit.filter(|l| l.memory_mb == 128) {
                    budgets.push(format!(
                        "loans first response, {}: {:.2}× floor + emulator (budget 1.5×): {}",
                        l.label(),
                        first / expected,
                        verdict(first / expected <= 1.5)
                    ));
                }
            }
            if subject.name.contains("Python") {
                budgets.push(format!(
                    "Python peer / loans, first response, {title}: {:.1}× (budget 30×): {}",
                    first / rust_loans_first,
                    verdict(first / rust_loans_first >= 30.0)
                ));
            }
        }
        writeln!(report).unwrap();
        eprintln!(
            "production path: {title} done ({:.0} s so far)",
            started.elapsed().as_secs_f64()
        );
    }
    if std::env::var("BENCH_LIMITS").is_err() {
        // Every function in `make bench-full`; loans and its peer in `make bench`.
        let priced: Vec<&Subject> = subjects.iter().skip(1).collect();
        cost_table(report, &priced, &app, &plain, rounds.min(3)).await;
    }
    writeln!(report, "### Budgets (ARCHITECTURE.md §10)\n").unwrap();
    for line in budgets {
        writeln!(report, "- {line}").unwrap();
    }
    writeln!(report).unwrap();
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**not met**"
    }
}
