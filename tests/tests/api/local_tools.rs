//! The local gateway's own tools — the outbox (every sign-in code of the machine), signed blob
//! URLs, `/docs` and `/openapi.yaml` — answer only to loopback names, so that a web page cannot
//! reach them through DNS rebinding; the gateway listens on loopback unless told otherwise; and a
//! client that sends a body too large gets to read the answer (ARCHITECTURE.md §6, §11).
//! The local gateway is the embedded backend's only front door, so these run there.

use std::time::Duration;

use acceptance::{Backend, TestApp};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const LOCAL_TOOLS: [&str; 5] = [
    "/_local/outbox",
    "/_local/outbox?to=james%40example.com",
    "/docs",
    "/docs/docs.js",
    "/openapi.yaml",
];

/// Sends `head` (request line and headers, without the blank line) and `body` on a fresh
/// connection, then reads the whole answer: (status, headers and body as text).
async fn raw(app: &TestApp, head: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("{head}\r\nconnection: close\r\n\r\n").as_bytes())
        .await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::other("no answer within 30 s"))??;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    Ok((status, text))
}

async fn get_with_host(app: &TestApp, path: &str, host: Option<&str>) -> (u16, String) {
    let host = host.map(|h| format!("\r\nhost: {h}")).unwrap_or_default();
    raw(app, &format!("GET {path} HTTP/1.1{host}"), b"")
        .await
        .unwrap_or_else(|e| panic!("{path} with {host:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_tools_answer_only_loopback_host_names() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    for path in LOCAL_TOOLS {
        for host in [
            "localhost".to_string(),
            format!("localhost:{port}"),
            "LocalHost:80".to_string(),
            "127.0.0.1".to_string(),
            format!("127.0.0.1:{port}"),
            "127.1.2.3:8080".to_string(),
            "[::1]".to_string(),
            format!("[::1]:{port}"),
        ] {
            let (status, text) = get_with_host(&app, path, Some(&host)).await;
            assert_eq!(status, 200, "{path} for {host}: {text}");
        }
        for host in [
            Some("evil.example"),
            Some("evil.example:3000"),
            Some("localhost.evil.example"),
            Some("127.0.0.1.nip.io"),
            Some("api.localhost"),
            Some("192.168.1.20:3000"),
            Some("localhost:3000, evil.example"),
            Some(""),
            None,
        ] {
            let (status, text) = get_with_host(&app, path, host).await;
            assert_eq!(status, 421, "{path} for {host:?}: {text}");
            assert!(text.contains("application/json"), "{text}");
            assert!(text.contains("\"error\":"), "{text}");
        }
    }
    // A signed blob URL is a local tool too: refused under a foreign name before its signature is
    // even looked at.
    let (status, _) = get_with_host(
        &app,
        "/_local/blobs/avatars/1/x?expires=1&sig=00",
        Some("evil.example"),
    )
    .await;
    assert_eq!(status, 421);
    // The API itself is for any client, whatever name it used (API Gateway's custom domains).
    let (status, text) = raw(
        &app,
        "POST /token/ HTTP/1.1\r\nhost: evil.example\r\ncontent-type: application/json\r\ncontent-length: 2",
        b"{}",
    )
    .await
    .unwrap();
    assert_eq!(status, 400, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_the_gateway_was_configured_with_is_local_too() {
    // A developer who serves their phone at http://devbox.example:3000 set PUBLIC_BASE_URL to it:
    // mailed links and blob URLs point there. An attacker does not control that name.
    let app = TestApp::spawn_seeded_with(Backend::Embedded, |c| {
        c.public_base_url = Some("http://devbox.example:3000".into())
    })
    .await;
    for host in ["devbox.example", "devbox.example:3000", "localhost"] {
        let (status, text) = get_with_host(&app, "/_local/outbox", Some(host)).await;
        assert_eq!(status, 200, "{host}: {text}");
    }
    for host in ["devbox.example.evil.example", "evil.example"] {
        let (status, text) = get_with_host(&app, "/_local/outbox", Some(host)).await;
        assert_eq!(status, 421, "{host}: {text}");
    }
}

/// Starts the `local-gateway` binary in a fresh directory with `bind` as `BIND_ADDRESS` (or none)
/// and returns the address it says it listens on, or how it exited.
async fn gateway_listens_on(bind: Option<&str>) -> Result<String, String> {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("local-gateway");
    assert!(
        binary.exists(),
        "build the binaries first: cargo build --workspace --bins"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .current_dir(dir.path())
        .env(
            "LOCAL_SECRET",
            String::from_utf8_lossy(acceptance::TEST_SECRET).to_string(),
        )
        .env("PORT", "0")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(bind) = bind {
        command.env("BIND_ADDRESS", bind);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("API on http://").nth(1) {
                return Some(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
        None
    })
    .await
    .expect("the gateway neither started nor stopped within 60 s");
    match found {
        Some(addr) => {
            let _ = child.kill().await;
            Ok(addr)
        }
        None => {
            let out = child.wait_with_output().await.unwrap();
            Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_listens_on_loopback_unless_told_otherwise() {
    let default = gateway_listens_on(None).await.unwrap();
    assert!(default.starts_with("127.0.0.1:"), "{default}");
    let everywhere = gateway_listens_on(Some("0.0.0.0")).await.unwrap();
    assert!(everywhere.starts_with("0.0.0.0:"), "{everywhere}");
    let refused = gateway_listens_on(Some("my laptop")).await.unwrap_err();
    assert!(refused.contains("BIND_ADDRESS"), "{refused}");
}

/// 12 MB: over API Gateway's 10 MB, under what the gateway reads and drops to answer.
const TWELVE_MB: usize = 12 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_too_large_a_body_reads_the_413() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let body = vec![b' '; TWELVE_MB];
    // A plain client: it writes the whole body, then reads.
    let (status, text) = raw(
        &app,
        &format!(
            "POST /token/ HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {TWELVE_MB}"
        ),
        &body,
    )
    .await
    .expect("the 413, not a reset");
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("The request body is too large."), "{text}");

    // reqwest, with a length and chunked.
    for chunked in [false, true] {
        let request = app
            .client
            .post(app.url("/token/"))
            .header("content-type", "application/json");
        let request = if chunked {
            let chunk = bytes::Bytes::from(vec![b' '; 1 << 20]);
            let stream =
                futures::stream::iter((0..12).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            request.body(reqwest::Body::wrap_stream(stream))
        } else {
            request.body(body.clone())
        };
        let a = app.send(request).await;
        assert_eq!(a.status, 413, "chunked {chunked}: {:?}", a.body);
    }

    // Every early answer waits for the body the same way: an unknown path, a foreign name.
    let (status, text) = raw(
        &app,
        &format!("POST /nowhere/ HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {TWELVE_MB}"),
        &body,
    )
    .await
    .expect("the 404, not a reset");
    assert_eq!(status, 404, "{text}");
    let (status, text) = raw(
        &app,
        &format!(
            "POST /_local/outbox HTTP/1.1\r\nhost: evil.example\r\ncontent-length: {TWELVE_MB}"
        ),
        &body,
    )
    .await
    .expect("the 421, not a reset");
    assert_eq!(status, 421, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_waits_for_100_continue_is_answered_at_once() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /token/ HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
                 content-length: {TWELVE_MB}\r\nexpect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}
