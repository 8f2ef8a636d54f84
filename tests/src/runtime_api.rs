//! A small Lambda Runtime API (`/2018-06-01/runtime/…`): hands a function process the same event
//! `invocations` times and reports what comes back, with when. The boot tests and the benchmark
//! start function binaries against it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;

/// What a function posted back.
#[derive(Debug)]
pub enum Outcome {
    /// The API Gateway response object, parsed.
    Response(Value),
    Error(String),
    InitError(String),
}

/// A report: an outcome, or the moment the function first asked for work (its init is over).
#[derive(Debug)]
pub enum Report {
    FirstPoll(Instant),
    Done(Instant, Outcome),
}

struct State {
    event: String,
    invocations: usize,
    handed_out: AtomicUsize,
    reports: mpsc::UnboundedSender<Report>,
}

fn reply(status: u16, body: &'static [u8]) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from_static(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r
}

impl State {
    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let now = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).to_string();
        if method == hyper::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
            let n = self.handed_out.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                let _ = self.reports.send(Report::FirstPoll(now));
            }
            if n >= self.invocations {
                // No more work: wait, as a sandbox between invocations would.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            let deadline = (shared::now() + 30) * 1000;
            return hyper::Response::builder()
                .header("lambda-runtime-aws-request-id", format!("req-{n}"))
                .header("lambda-runtime-deadline-ms", deadline.to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:eu-west-1:123456789012:function:local",
                )
                .header(
                    "lambda-runtime-trace-id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
                )
                .body(Full::new(Bytes::from(self.event.clone())))
                .unwrap_or_else(|_| reply(500, b"{}"));
        }
        if method == hyper::Method::POST {
            if path == "/2018-06-01/runtime/init/error" {
                let _ = self
                    .reports
                    .send(Report::Done(now, Outcome::InitError(text)));
                return reply(202, b"{\"status\":\"OK\"}");
            }
            if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
                let outcome = if rest.ends_with("/response") {
                    Outcome::Response(serde_json::from_str(&text).unwrap_or(Value::String(text)))
                } else {
                    Outcome::Error(text)
                };
                let _ = self.reports.send(Report::Done(now, outcome));
                return reply(202, b"{\"status\":\"OK\"}");
            }
        }
        reply(404, b"not found")
    }
}

/// Starts the API on a free port: `event` is handed out `invocations` times.
pub async fn start(
    event: String,
    invocations: usize,
) -> (SocketAddr, mpsc::UnboundedReceiver<Report>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(State {
        event,
        invocations,
        handed_out: AtomicUsize::new(0),
        reports: tx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, rx)
}

/// The environment the Lambda service gives a function process.
pub fn lambda_env(function: &str, api: SocketAddr) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
