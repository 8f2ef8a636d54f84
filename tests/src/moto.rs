//! One moto (the AWS emulator) per test process, on a free 127.0.0.1 port, ended with the
//! process. It runs through `tests/moto_serial.py`, which serves one request at a time so that
//! conditional writes are atomic as in DynamoDB. The Python is `$MOTO_PYTHON`, else
//! `.venv/bin/python` (made by `make setup`), else `python3`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The emulator's base URL, starting it on first use.
pub fn endpoint() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(start)
}

/// Starts one more emulator for this process (the IAM-enforced one); returns its base URL.
pub fn start_another() -> String {
    start()
}

/// The Python that runs the emulator and the test scripts beside it.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv;
    }
    "python3".into()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn command(port: u16, tls: Option<&Tls>) -> Command {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_serial.py");
    let log = std::fs::File::create(std::env::temp_dir().join(format!("moto-{port}.log")))
        .expect("moto log file");
    let mut command = Command::new(python());
    command
        .arg(&script)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    if let Some(tls) = tls {
        command
            .arg("--tls-port")
            .arg(tls.port.to_string())
            .arg("--cert")
            .arg(&tls.cert)
            .arg("--key")
            .arg(&tls.key);
    }
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    command
}

fn wait_until_listening(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not listen on {addr} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start() -> String {
    let port = free_port();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // The child is tied to this thread, which lives as long as the test process: when the process
    // ends, the kernel sends the emulator SIGTERM (PR_SET_PDEATHSIG).
    std::thread::spawn(move || {
        let mut command = command(port, None);
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        match command.spawn() {
            Ok(mut child) => {
                let _ = ready_tx.send(Ok(()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = ready_tx.send(Err(format!(
                    "cannot start moto with {}: {e} (run `make setup`)",
                    python().display()
                )));
            }
        }
        // Keep the thread (and so the death signal's anchor) alive until the process exits.
        loop {
            std::thread::park();
        }
    });
    if let Ok(Err(e)) = ready_rx.recv() {
        panic!("{e}");
    }
    wait_until_listening(port);
    format!("http://127.0.0.1:{port}")
}

/// An emulator of one's own, to stop and start again mid-test (its state is lost, as a real
/// outage's would not be: the test recreates what it needs).
pub struct Dedicated {
    port: u16,
    tls: Option<Tls>,
    child: Option<std::process::Child>,
}

/// A second listener of the same emulator, over TLS with this certificate and key (PEM files).
struct Tls {
    port: u16,
    cert: PathBuf,
    key: PathBuf,
}

impl Dedicated {
    pub fn start() -> Self {
        let mut d = Dedicated {
            port: free_port(),
            tls: None,
            child: None,
        };
        d.restart();
        d
    }

    /// An emulator that also answers over HTTPS (see [`Dedicated::tls_url`]) with the server
    /// certificate `cert` and its key `key`.
    pub fn start_with_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let mut d = Dedicated {
            port: free_port(),
            tls: Some(Tls {
                port: free_port(),
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
            child: None,
        };
        d.restart();
        d
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The HTTPS URL of the same emulator, if it was started with TLS.
    pub fn tls_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|t| format!("https://127.0.0.1:{}", t.port))
    }

    /// Kills the emulator: connections are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(
            command(self.port, self.tls.as_ref())
                .spawn()
                .expect("start moto"),
        );
        wait_until_listening(self.port);
        if let Some(tls) = &self.tls {
            wait_until_listening(tls.port);
        }
    }
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An SDK configuration for the shared emulator, with dummy credentials. One serialised Python
/// process serving every test at once can take longer than DynamoDB's 3 s attempt limit, and a
/// timed-out attempt that did succeed would then be retried (a second CreateTable, a second
/// delete of a verification link): so attempts here get 30 s. The production limits are tested
/// against a dedicated emulator and a black hole (`sdk_config_at`).
/// The DynamoDB operations the emulator at `url` has served since the last call, by name
/// (`{"Query": 3, ...}`), and starts counting afresh.
pub async fn take_operation_counts(url: &str) -> serde_json::Value {
    let client = reqwest::Client::new();
    let counts = client
        .get(format!("{url}/_counts"))
        .send()
        .await
        .expect("the emulator answers")
        .json()
        .await
        .expect("its counts as JSON");
    client
        .delete(format!("{url}/_counts"))
        .send()
        .await
        .expect("the emulator answers");
    counts
}

pub async fn sdk_config() -> SdkConfig {
    sdk_config_as(endpoint(), "test", "test").await
}

/// [`sdk_config`]'s patience, at `url` as the identity of access key `key`.
pub async fn sdk_config_as(url: &str, key: &str, secret: &str) -> SdkConfig {
    let patient = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(30))
        .operation_timeout(std::time::Duration::from_secs(60))
        .build();
    configured(
        url,
        patient,
        Credentials::new(key, secret, None, None, "moto"),
    )
    .await
}

/// An SDK configuration pointed at any endpoint with the production timeouts and retries.
pub async fn sdk_config_at(url: &str) -> SdkConfig {
    let anyone = Credentials::new("test", "test", None, None, "moto");
    configured(url, shared::context::sdk_timeouts(), anyone).await
}

async fn configured(
    url: &str,
    timeouts: aws_config::timeout::TimeoutConfig,
    credentials: Credentials,
) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials)
        .timeout_config(timeouts)
        .retry_config(shared::context::sdk_retries())
        .load()
        .await
}

/// An S3 client for the emulator (path-style addressing, as 127.0.0.1 has no bucket subdomains).
pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}
