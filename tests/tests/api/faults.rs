//! Faults produced for real — a locked database file, an unwritable outbox, a killed and restarted
//! emulator, a backend that never answers, a dropped counter table — and the promises that hold
//! through them (README, "Failure behaviour").

use std::time::{Duration, Instant};

use acceptance::{demo, Backend, TestApp};
use serde_json::json;
use shared::upload::samples;

const FIXED_500: &str = "Something went wrong. Please try again later.";

/// Holds SQLite's write lock on the app's database from another connection until dropped,
/// as another process in the middle of a long transaction would.
struct WriteLock {
    release: std::sync::mpsc::Sender<()>,
    done: Option<std::thread::JoinHandle<()>>,
}

impl WriteLock {
    fn take(app: &TestApp) -> WriteLock {
        let path = match &app.ctx.config.backend {
            shared::config::Backend::Embedded { database_path } => database_path.clone(),
            shared::config::Backend::Aws => unreachable!("an embedded app"),
        };
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (locked_tx, locked) = std::sync::mpsc::channel();
        let done = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked_tx.send(()).unwrap();
            let _ = wait.recv();
            conn.execute_batch("ROLLBACK").unwrap();
        });
        locked.recv().unwrap();
        WriteLock {
            release,
            done: Some(done),
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.release.send(());
        if let Some(done) = self.done.take() {
            let _ = done.join();
        }
    }
}

/// After counts were refused: the losses are recorded apart, by hour, and both metrics.json
/// and the page say that hour's figures are incomplete.
async fn the_dashboard_names_the_hour_that_lost(app: &TestApp, lost: u64) {
    let hour = shared::metrics::hour_of(shared::now());
    let losses = app.ctx.store.losses().await.unwrap();
    let recorded: u64 = losses.range(hour - 1..=hour).map(|(_, n)| n).sum();
    assert_eq!(recorded, lost, "{losses:?}");
    let admin = app.access_token(&demo::ADMIN).await;
    let m = app
        .send(
            app.client
                .get(app.url("/api/metrics.json"))
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(m.status, 200, "{}", m.body);
    let incomplete = m.body["incomplete_hours"].as_array().unwrap();
    assert_eq!(incomplete.len(), 1, "{}", m.body);
    assert_eq!(incomplete[0]["lost"], lost);
    let lossy_hour = m.body["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["lost"].as_u64() > Some(0))
        .expect("the hour in the chart's figures");
    assert_eq!(lossy_hour["hour"], incomplete[0]["hour"]);
}

async fn embedded_app() -> TestApp {
    TestApp::spawn_seeded_with(Backend::Embedded, |c| {
        c.sqlite_busy_timeout = Duration::from_millis(300)
    })
    .await
}

mod embedded {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_locked_database_answers_503_and_a_failed_registration_leaves_nothing() {
        let app = embedded_app().await;
        let body = app.registration("CUSTOMER");
        let lock = WriteLock::take(&app);
        let a = app.register(&body, None).await;
        assert_eq!(a.status, 503, "{:?}", a.body);
        assert!(a.headers.contains_key("retry-after"));
        assert!(app
            .ctx
            .store
            .user_by_email(body["email"].as_str().unwrap())
            .await
            .unwrap()
            .is_none());
        drop(lock);
        let a = app.register(&body, None).await;
        assert_eq!(a.status, 201, "no claim was left behind: {:?}", a.body);
    }

    /// Dashboard sign-out makes the cookie useless at once (ARCHITECTURE.md §6); when that
    /// cannot be written, the page says so instead of "signed out", and keeps the cookie so the
    /// operator can try again, which then ends it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dashboard_sign_out_that_cannot_be_written_says_so_and_can_be_retried() {
        let app = embedded_app().await;
        let client = acceptance::no_redirects();
        let (status, cookie) = app.dashboard_sign_in(&client).await;
        assert_eq!(status, 303);
        let cookie = cookie.expect("a session cookie");
        let sign_out = || {
            client
                .post(app.url("/api/logout/"))
                .header("origin", &app.base)
                .header("cookie", &cookie)
                .send()
        };
        let metrics = || {
            client
                .get(app.url("/api/metrics.json"))
                .header("cookie", &cookie)
                .send()
        };
        let lock = WriteLock::take(&app);
        let out = sign_out().await.unwrap();
        assert_eq!(
            out.status().as_u16(),
            503,
            "not a sign-out that did not happen"
        );
        assert!(
            out.headers().get(reqwest::header::SET_COOKIE).is_none(),
            "the cookie is kept, to try again"
        );
        let page = out.text().await.unwrap();
        assert!(page.contains("not signed out"), "{page}");
        drop(lock);
        assert_eq!(metrics().await.unwrap().status().as_u16(), 200);
        let out = sign_out().await.unwrap();
        assert_eq!(out.status().as_u16(), 303);
        assert_eq!(metrics().await.unwrap().status().as_u16(), 401);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refresh_whose_rotation_fails_leaves_the_old_token_usable_once_more() {
        let app = embedded_app().await;
        let pair = app.token(demo::JAMES.username, demo::JAMES.password).await;
        let refresh = pair.body["refresh"].as_str().unwrap().to_string();
        let lock = WriteLock::take(&app);
        assert_eq!(app.refresh(&refresh).await.status, 503);
        drop(lock);
        assert_eq!(
            app.refresh(&refresh).await.status,
            200,
            "the session survived the outage"
        );
        assert_eq!(
            app.refresh(&refresh).await.status,
            401,
            "and the token is spent now"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_avatar_whose_record_write_fails_leaves_no_object() {
        let app = embedded_app().await;
        let user = app.new_user("CUSTOMER").await;
        let token = app.access_of(&user).await;
        let lock = WriteLock::take(&app);
        let path = format!("/auth/avatar/{}/", user.id);
        let a = app
            .post_file(&path, samples::png(8, 8), "a.png", "image/png", &token)
            .await;
        assert_eq!(a.status, 503);
        drop(lock);
        assert!(app
            .objects(&format!("avatars/{}/", user.id))
            .await
            .is_empty());
        assert!(app
            .ctx
            .store
            .user(user.id)
            .await
            .unwrap()
            .unwrap()
            .avatar_key
            .is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deletion_that_fails_half_way_is_retried_to_completion() {
        let app = embedded_app().await;
        let user = app.new_user("CUSTOMER").await;
        let token = app.access_of(&user).await;
        let a = app.upload_pdf("a.pdf", &token).await;
        assert_eq!(a.status, 201);
        let lock = WriteLock::take(&app);
        assert_eq!(
            app.call("DELETE", "/auth/delete/", None, Some(&token))
                .await
                .status,
            503
        );
        drop(lock);
        assert!(
            app.ctx.store.user(user.id).await.unwrap().is_some(),
            "the record outlived the failure"
        );
        assert_eq!(
            app.call("DELETE", "/auth/delete/", None, Some(&token))
                .await
                .status,
            200
        );
        assert!(app.ctx.store.user(user.id).await.unwrap().is_none());
        assert!(app
            .objects(&format!("uploads/{}/", user.id))
            .await
            .is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_undeliverable_code_is_not_left_usable_and_the_client_is_told() {
        let app = TestApp::spawn_seeded_with(Backend::Embedded, |c| {
            // A path whose parent is a file: every write to the outbox fails.
            let blocker = c.outbox_path.with_file_name("not-a-directory");
            std::fs::write(&blocker, b"x").unwrap();
            c.outbox_path = blocker.join("outbox.jsonl");
        })
        .await;
        let a = app
            .login(demo::JAMES.email, demo::JAMES.password, "Email")
            .await;
        assert_eq!(
            (a.status, a.error()),
            (503, "The sign-in code could not be sent. Please try again.")
        );
        let james = app.stored(&demo::JAMES).await;
        assert!(app
            .ctx
            .store
            .otp(james.id, shared::store::OtpKind::SignIn)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counting_failures_never_change_an_answer_and_the_dashboard_names_the_hour() {
        let app = embedded_app().await;
        let before = app.token(demo::JAMES.username, demo::JAMES.password).await;
        let access = before.body["access"].as_str().unwrap().to_string();
        let expected = app.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
        let path = match &app.ctx.config.backend {
            shared::config::Backend::Embedded { database_path } => database_path.clone(),
            shared::config::Backend::Aws => unreachable!(),
        };
        let db = rusqlite::Connection::open(path).unwrap();
        db.execute_batch("ALTER TABLE counts RENAME TO counts_away")
            .unwrap();
        let after = app.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
        assert_eq!(
            (after.status, &after.body),
            (expected.status, &expected.body)
        );
        assert_eq!(app.token(demo::JAMES.username, "wrong").await.status, 401);
        db.execute_batch("ALTER TABLE counts_away RENAME TO counts")
            .unwrap();
        the_dashboard_names_the_hour_that_lost(&app, 2).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_body_is_cut_off_and_an_endless_one_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = TestApp::spawn_seeded_with(Backend::Embedded, |c| {
            c.request_body_timeout = Duration::from_secs(1)
        })
        .await;
        let addr = app.base.trim_start_matches("http://").to_string();
        let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
        slow.write_all(b"POST /token/ HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"user").await.unwrap();
        let started = Instant::now();
        let mut answer = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer[..n])
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        // Chunked, no length: refused once past 10 MB, not buffered to the end (the gateway reads
        // and drops up to 32 MiB so that the client can read the 413, then closes).
        let chunk = bytes::Bytes::from(vec![b' '; 1 << 20]);
        let stream =
            futures::stream::iter((0..64).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        let r = app
            .client
            .post(app.url("/token/"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await;
        if let Ok(r) = r {
            assert_eq!(r.status().as_u16(), 413);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn several_gateway_processes_share_one_database_without_lock_errors() {
        let app = embedded_app().await;
        let db = match &app.ctx.config.backend {
            shared::config::Backend::Embedded { database_path } => database_path.clone(),
            shared::config::Backend::Aws => unreachable!(),
        };
        let exe = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("local-gateway");
        assert!(
            exe.exists(),
            "build the binaries first: cargo build --workspace --bins"
        );
        let mut bases = vec![app.base.clone()];
        let mut children = Vec::new();
        for _ in 0..2 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            children.push(
                tokio::process::Command::new(&exe)
                    .env("DATABASE_PATH", &db)
                    // The test's own outbox and blobs, never the checkout's `.local/`.
                    .env("OUTBOX_PATH", db.with_file_name("outbox.jsonl"))
                    .env("BLOB_DIR", db.with_file_name("blobs"))
                    .env(
                        "LOCAL_SECRET",
                        std::str::from_utf8(acceptance::TEST_SECRET).unwrap(),
                    )
                    .env("PORT", port.to_string())
                    .env("THROTTLE_MULTIPLIER", "1000")
                    .env("RUST_LOG", "warn")
                    .stdout(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .unwrap(),
            );
            bases.push(format!("http://127.0.0.1:{port}"));
        }
        for base in &bases[1..] {
            let deadline = Instant::now() + Duration::from_secs(20);
            while app
                .client
                .get(format!("{base}/_local/outbox"))
                .send()
                .await
                .is_err()
            {
                assert!(Instant::now() < deadline, "{base} did not start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Writes from three processes at once: token issues (refresh records, throttles, counters).
        let requests = (0..90).map(|i| {
            let url = format!("{}/token/", bases[i % 3]);
            let client = app.client.clone();
            async move {
                client
                    .post(url)
                    .json(&json!({"username": demo::SARAH.username, "password": demo::SARAH.password}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        });
        let statuses = futures::future::join_all(requests).await;
        let failures: Vec<_> = statuses.iter().filter(|s| **s >= 500 || **s == 0).collect();
        assert!(failures.is_empty(), "{statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 429),
            "{statuses:?}"
        );
    }
}

mod aws {
    use super::*;
    use acceptance::moto;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_emulator_killed_mid_suite_gives_the_fixed_500_then_service_resumes() {
        let mut emulator = moto::Dedicated::start();
        let sdk = moto::sdk_config_at(&emulator.url()).await;
        let app = TestApp::spawn_on(sdk.clone(), |_| {}).await;
        let access = app.access_token(&demo::JAMES).await;
        assert_eq!(
            app.loans(demo::JAMES_ACCOUNT, Some(&access)).await.status,
            200
        );

        emulator.stop();
        let started = Instant::now();
        let a = app.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
        assert_eq!((a.status, a.error()), (500, FIXED_500));
        let t = app.token(demo::JAMES.username, demo::JAMES.password).await;
        assert_eq!((t.status, t.error()), (500, FIXED_500));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bounded: {:?}",
            started.elapsed()
        );

        emulator.restart();
        // The emulator comes back empty: recreate what SAM and the import would have.
        acceptance::provision(&sdk, &app.ctx.config).await.unwrap();
        local::demo::seed(&app.ctx).await.unwrap();
        let access = app.access_token(&demo::JAMES).await;
        let a = app.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
        assert_eq!(
            a.status, 200,
            "the same process, clients and pools work again: {:?}",
            a.body
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backend_that_never_answers_costs_a_bounded_wait() {
        // Accepts connections and reads, but never writes a byte.
        let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", hole.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = hole.accept().await {
                held.push(s);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let mut config = acceptance::test_config(Backend::Aws, dir.path());
        config.s3_force_path_style = true;
        let ctx = std::sync::Arc::new(
            shared::Ctx::aws(config, &moto::sdk_config_at(&url).await).unwrap(),
        );
        let (addr, _server) = local::spawn(ctx, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let started = Instant::now();
        let r = reqwest::Client::new()
            .post(format!("http://{addr}/token/"))
            .json(&json!({"username": "jblunt", "password": "james-demo-pass"}))
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(r.status().as_u16(), 500);
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap(),
            json!({"error": FIXED_500})
        );
        assert!(
            elapsed < Duration::from_secs(15),
            "SDK timeouts bound the wait: {elapsed:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_undeliverable_code_is_not_left_usable_and_the_client_is_told() {
        let app = TestApp::spawn(Backend::Aws).await;
        // The seed's sample phone has no country code: SNS refuses to send to it (not E.164).
        let mut body = app.registration("CUSTOMER");
        body["phone"] = json!("0700123456");
        let user = app.register_verified(&body, None).await;
        // Confirmed by hand: the confirmation text could not be delivered either.
        app.ctx
            .modify_user(user.id, |u| {
                u.phone_verified = true;
                Ok(())
            })
            .await
            .unwrap();
        let a = app.login(&user.email, &user.password, "Phone").await;
        assert_eq!(
            (a.status, a.error()),
            (503, "The sign-in code could not be sent. Please try again.")
        );
        assert!(app
            .ctx
            .store
            .otp(user.id, shared::store::OtpKind::SignIn)
            .await
            .unwrap()
            .is_none());
        // By e-mail the same person still signs in.
        assert_eq!(
            app.login(&user.email, &user.password, "Email").await.status,
            200
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counting_failures_never_change_an_answer_and_the_dashboard_names_the_hour() {
        let app = TestApp::spawn(Backend::Aws).await;
        let access = app.access_token(&demo::JAMES).await;
        let expected = app.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
        let (_, counters) = app.tables.clone().unwrap();
        let sdk = moto::sdk_config().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        client
            .delete_table()
            .table_name(&counters)
            .send()
            .await
            .unwrap();
        let after = app.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
        assert_eq!(
            (after.status, &after.body),
            (expected.status, &expected.body)
        );
        // The counter table is back (a throttle passes): what it missed stays missed, and said.
        shared::store::schema::COUNTER_TABLE
            .create(&client, &counters)
            .await
            .unwrap();
        the_dashboard_names_the_hour_that_lost(&app, 1).await;
    }
}
