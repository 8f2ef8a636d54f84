//! The IAM-enforced emulator: its own moto process in which every call is checked against the
//! caller's identity policies. Each function gets an identity carrying only its role's
//! statements from the transformed template (`tests/iam_identities.py`); set-up and test
//! helpers use an administrator.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;

/// An access key of an IAM user in the emulator.
#[derive(Clone, Debug, Deserialize)]
pub struct Identity {
    pub key: String,
    pub secret: String,
}

/// The administrator and one identity per function binary.
#[derive(Clone, Debug, Deserialize)]
pub struct Identities {
    pub admin: Identity,
    pub functions: HashMap<String, Identity>,
}

struct Emulator {
    url: String,
    identities: Identities,
}

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let url = crate::moto::start_another();
        let identities = run_script(&url, &[]);
        Emulator { url, identities }
    })
}

fn run_script(url: &str, extra: &[String]) -> Identities {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("iam_identities.py");
    let out = Command::new(crate::moto::python())
        .arg(script)
        .arg(url)
        .arg(crate::rehearsal::transformed())
        .args(extra)
        .output()
        .expect("run tests/iam_identities.py");
    assert!(
        out.status.success(),
        "iam_identities.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("identities as JSON")
}

/// The IAM-enforcing emulator's base URL.
pub fn endpoint() -> &'static str {
    &emulator().url
}

/// The identities made when the emulator started.
pub fn identities() -> &'static Identities {
    &emulator().identities
}

/// New identities whose function `function` lacks `action` (named users start with `prefix`).
pub fn identities_without(function: &str, action: &str, prefix: &str) -> Identities {
    let admin = &identities().admin;
    run_script(
        endpoint(),
        &[
            "--admin".into(),
            format!("{}:{}", admin.key, admin.secret),
            "--prefix".into(),
            prefix.into(),
            "--without".into(),
            format!("{function}={action}"),
        ],
    )
}

/// An SDK configuration for the IAM-enforcing emulator as `identity`.
pub async fn sdk_config(identity: &Identity) -> aws_config::SdkConfig {
    crate::moto::sdk_config_as(endpoint(), &identity.key, &identity.secret).await
}
