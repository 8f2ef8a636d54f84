//! The deploy rehearsal (`tests/rehearse.py`): the real Serverless transform of a SAM template
//! and the checks CloudFormation would make, given the route registry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What one rehearsal found.
#[derive(Debug)]
pub struct Rehearsal {
    pub passed: bool,
    /// One line per problem, or the summary.
    pub report: String,
    /// The transformed CloudFormation template (JSON), when the transform ran.
    pub transformed: PathBuf,
}

/// The repository's `template.yaml`.
pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// Rehearses `template` with the gateway's route table, writing into `dir`.
pub fn rehearse(template: &Path, dir: &Path) -> Rehearsal {
    std::fs::create_dir_all(dir).expect("the rehearsal's folder");
    let routes: Vec<serde_json::Value> = functions::routes()
        .iter()
        .map(|r| serde_json::json!({"function": r.function, "method": r.method.as_str(), "path": r.path}))
        .collect();
    let routes_file = dir.join("routes.json");
    std::fs::write(&routes_file, serde_json::to_vec(&routes).unwrap()).expect("routes.json");
    let transformed = dir.join("transformed.json");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rehearse.py");
    let out = Command::new(crate::moto::python())
        .arg(script)
        .arg(template)
        .arg("--routes")
        .arg(&routes_file)
        .arg("--out")
        .arg(&transformed)
        .output()
        .expect("run tests/rehearse.py (make setup installs its Python)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Rehearsal {
        passed: out.status.success(),
        report,
        transformed,
    }
}

/// The repository's template, transformed once per test process; panics if it does not rehearse.
pub fn transformed() -> &'static Path {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = crate::target_dir().join(format!("rehearsal-{}", std::process::id()));
        let r = rehearse(&template_path(), &dir);
        assert!(r.passed, "template.yaml does not rehearse:\n{}", r.report);
        r.transformed
    })
}
