//! A small driver for Debian's headless Chromium, spoken to over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: JSON messages ended by NUL, on the browser's fds 3 and 4), the
//! transport Puppeteer and Playwright use. No browser is downloaded and no crate added: the test
//! types, clicks and reads the page through the browser itself, as a person would.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// How long one protocol call, or one wait for the page, may take: generous, so that a machine
/// several times slower than a quiet one (a CI run beside other builds) still passes. Every wait
/// is for something the page does, so a fast machine never sleeps this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);
const WAIT_TIMEOUT: Duration = Duration::from_secs(90);

/// The flags of ARCHITECTURE.md §9, plus the pipe the driver talks on.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
];

/// A running browser with one page open.
pub struct Chromium {
    child: Child,
    to_browser: File,
    from_browser: Receiver<Value>,
    next_id: u64,
    page: String,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

/// Where Chromium is: `$CHROMIUM`, else Debian's `/usr/bin/chromium`, else `chromium` on `PATH`.
fn executable() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("CHROMIUM") {
        return Ok(p.into());
    }
    let debian = Path::new("/usr/bin/chromium");
    if debian.exists() {
        return Ok(debian.into());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|p| p.exists())
        .ok_or_else(|| {
            "Chromium is not installed: the dashboard's browser test needs Debian's `chromium` \
             package (`apt-get update && apt-get install -y chromium`; `.ci/run` installs it), \
             or CHROMIUM=/path/to/chromium"
                .to_string()
        })
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors on success, and we own them from then on.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Chromium {
    /// Starts headless Chromium on a fresh profile and opens a blank page. The error names what
    /// is missing or what the browser said.
    pub fn launch() -> Result<Self, String> {
        let exe = executable()?;
        let profile = tempfile::tempdir().map_err(|e| format!("profile dir: {e}"))?;
        let log = profile.path().join("chromium.log");
        let log_file = File::create(&log).map_err(|e| format!("log: {e}"))?;
        let (child_reads, we_write) = pipe()?;
        let (we_read, child_writes) = pipe()?;
        let (child_in, child_out) = (child_reads.as_raw_fd(), child_writes.as_raw_fd());
        let mut command = Command::new(&exe);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file);
        // SAFETY: only async-signal-safe calls between fork and exec. The pipe ends go to fds 3
        // and 4 by way of fresh numbers, so neither dup2 can clobber the other's source.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(move || {
                let a = libc::fcntl(child_in, libc::F_DUPFD, 10);
                let b = libc::fcntl(child_out, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(a);
                libc::close(b);
                // If the test dies, the browser goes with it.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        drop((child_reads, child_writes));

        let (tx, rx) = std::sync::mpsc::channel();
        let mut reader = BufReader::new(File::from(we_read));
        std::thread::spawn(move || loop {
            let mut message = Vec::new();
            match reader.read_until(0, &mut message) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    message.pop();
                    if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut browser = Chromium {
            child,
            to_browser: File::from(we_write),
            from_browser: rx,
            next_id: 0,
            page: String::new(),
            log,
            _profile: profile,
        };
        let target = browser.send(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let target_id = target["targetId"].as_str().unwrap_or_default().to_string();
        let attached = browser.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        )?;
        browser.page = attached["sessionId"]
            .as_str()
            .ok_or("no page session")?
            .to_string();
        Ok(browser)
    }

    /// The browser's own log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn send(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .map_err(|e| format!("{method}: the browser is gone ({e})\n{}", self.log_tail()))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_browser.recv_timeout(left) {
                Ok(reply) if reply["id"] == json!(id) => {
                    return match reply.get("error") {
                        Some(error) => Err(format!("{method}: {error}")),
                        None => Ok(reply["result"].clone()),
                    };
                }
                Ok(_event) => continue,
                Err(RecvTimeoutError::Timeout) => return Err(format!("{method}: no answer")),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "{method}: the browser is gone\n{}",
                        self.log_tail()
                    ))
                }
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let page = self.page.clone();
        self.send(Some(&page), method, params)
    }

    /// The value of a JavaScript expression on the page.
    pub fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("{expression}: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Waits until `condition` (a JavaScript expression) is true on a fully loaded page.
    pub fn wait_for(&mut self, condition: &str) -> Result<(), String> {
        let expression = format!("document.readyState === 'complete' && !!({condition})");
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            // While a navigation replaces the page an evaluation may fail: that is "not yet".
            if self.eval(&expression).ok() == Some(json!(true)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let url = self.eval("location.href").unwrap_or_default();
                return Err(format!("waited in vain for `{condition}` on {url}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&mut self, url: &str) -> Result<(), String> {
        let r = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(e) = r.get("errorText") {
            return Err(format!("{url}: {e}"));
        }
        self.wait_for(&format!("location.href.startsWith({})", json!(url)))
    }

    /// The text of the first element `selector` matches, or `None`.
    pub fn text(&mut self, selector: &str) -> Result<Option<String>, String> {
        let v = self.eval(&format!(
            "document.querySelector({})?.textContent ?? null",
            json!(selector)
        ))?;
        Ok(v.as_str().map(|s| s.trim().to_string()))
    }

    /// Clicks the middle of the element `selector` matches with the mouse, once the element has
    /// stopped moving and nothing covers it: a page still laying itself out (a response panel
    /// above growing) would otherwise take the click somewhere else.
    pub fn click(&mut self, selector: &str) -> Result<(), String> {
        let probe = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             const x = r.x + r.width / 2, y = r.y + r.height / 2; \
             const hit = document.elementFromPoint(x, y); \
             return [x, y, !!hit && (hit === e || e.contains(hit))]; }})()",
            json!(selector)
        );
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let mut last = Value::Null;
        let (x, y) = loop {
            let at = self.eval(&probe).unwrap_or(Value::Null);
            if at[2] == json!(true) && at == last {
                if let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) {
                    break (x, y);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("nothing steady to click at {selector}: {at}"));
            }
            last = at;
            std::thread::sleep(Duration::from_millis(100));
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )?;
        }
        Ok(())
    }

    /// Clicks into the field `selector` and types `text`.
    pub fn type_into(&mut self, selector: &str, text: &str) -> Result<(), String> {
        self.click(selector)?;
        self.call("Input.insertText", json!({"text": text}))?;
        Ok(())
    }

    /// Emulates a screen `width` x `height` CSS pixels (a phone's with `mobile`).
    pub fn viewport(&mut self, width: u32, height: u32, mobile: bool) -> Result<(), String> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )?;
        Ok(())
    }

    /// Saves the whole page, as wide as the viewport, as a PNG at `path`.
    pub fn screenshot(&mut self, path: &Path, width: u32, mobile: bool) -> Result<(), String> {
        let height = self
            .eval("Math.ceil(document.documentElement.scrollHeight)")?
            .as_u64()
            .unwrap_or(900) as u32;
        self.viewport(width, height, mobile)?;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .map_err(|e| format!("screenshot: {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.send(None, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
