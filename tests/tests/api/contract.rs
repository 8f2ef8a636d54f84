//! `openapi.yaml` is the contract: it describes exactly the route table (and so the template's
//! routes), its examples keep to its own schemas, the gateway serves it with the `/docs` page, and
//! schemathesis fuzzes every operation against the running gateway without a 5xx or a response
//! that breaks the schema. (Every answer of the whole suite is checked against it too: see
//! `acceptance::contract` and `TestApp::send`.)

use std::collections::BTreeSet;

use acceptance::contract::{operations, resolve, spec, validator};
use acceptance::{Backend, TestApp};
use serde_json::Value;

#[test]
fn the_contract_describes_exactly_the_route_table() {
    let described: BTreeSet<_> = operations()
        .into_iter()
        .map(|(method, path)| {
            let op = &spec()["paths"][&path][method.to_ascii_lowercase()];
            let function = op["x-lambda-function"].as_str().unwrap_or("?").to_string();
            (function, method, path)
        })
        .collect();
    let routed: BTreeSet<_> = functions::routes()
        .iter()
        .map(|r| {
            (
                r.function.to_string(),
                r.method.to_string(),
                r.path.to_string(),
            )
        })
        .collect();
    assert_eq!(
        described, routed,
        "openapi.yaml operations vs the route table"
    );

    // And so the template's: every route is declared there with and without its slash.
    let (template, _) = crate::template::template_routes();
    let template: BTreeSet<_> = template
        .into_iter()
        .filter(|(_, _, path)| described.iter().any(|(_, _, p)| p == path))
        .collect();
    assert_eq!(
        template, described,
        "template.yaml HttpApi events vs openapi.yaml"
    );
}

#[test]
fn every_operation_says_who_may_call_it_and_how_it_fails() {
    let mut ids = BTreeSet::new();
    for (method, path) in operations() {
        let op = &spec()["paths"][&path][method.to_ascii_lowercase()];
        let id = op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
        assert!(
            op["x-roles"].as_array().is_some_and(|r| !r.is_empty()),
            "{method} {path}: x-roles"
        );
        assert!(op["security"].is_array(), "{method} {path}: security");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3')),
            "{method} {path}: a success response"
        );
        if op["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("bearerAuth").is_some())
        {
            assert!(
                responses.contains_key("401"),
                "{method} {path}: 401 for a bad token"
            );
        }
        for (status, response) in responses {
            let response = resolve(response);
            assert!(
                response["description"].is_string(),
                "{method} {path} {status}"
            );
            if let Some(json) = response["content"].get("application/json") {
                assert!(
                    json.get("example").is_some(),
                    "{method} {path} {status}: an example"
                );
            }
        }
    }
}

/// Every `example` of a request or response body, with the schema it must keep to.
fn examples() -> Vec<(String, Value, Value)> {
    let mut found = Vec::new();
    let mut visit = |at: String, media: &Value| {
        if let (Some(example), Some(schema)) = (media.get("example"), media.get("schema")) {
            found.push((at, example.clone(), schema.clone()));
        }
    };
    for (method, path) in operations() {
        let op = &spec()["paths"][&path][method.to_ascii_lowercase()];
        for (media, m) in op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            visit(format!("{method} {path} request {media}"), m);
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            for (media, m) in resolve(response)["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                visit(format!("{method} {path} {status} {media}"), m);
            }
        }
    }
    found
}

#[test]
fn every_example_keeps_to_its_schema() {
    let examples = examples();
    assert!(
        examples.len() > 40,
        "examples throughout: {}",
        examples.len()
    );
    for (at, example, schema) in examples {
        let v = validator(&schema).unwrap_or_else(|e| panic!("{at}: {e}"));
        let problems: Vec<_> = v.iter_errors(&example).map(|e| e.to_string()).collect();
        assert!(
            problems.is_empty(),
            "{at}: example {example} breaks its schema: {problems:?}"
        );
    }
}

#[test]
fn the_checker_refuses_what_the_contract_does_not_allow() {
    use acceptance::contract::check;
    let ok = br#"{"refresh":"a.b.c","access":"d.e.f","device":"0123456789abcdef0123456789abcdef"}"#;
    assert!(check("POST", "/token/", 200, "application/json", ok).is_ok());
    assert!(check("POST", "/token", 200, "application/json", ok).is_ok());
    // An undocumented status, a missing field, an extra field, the wrong content type.
    assert!(check("POST", "/token/", 418, "application/json", ok).is_err());
    assert!(check(
        "POST",
        "/token/",
        200,
        "application/json",
        br#"{"access":"d.e.f"}"#
    )
    .is_err());
    let extra = br#"{"refresh":"a.b.c","access":"d.e.f","device":"0123456789abcdef0123456789abcdef","password":"x"}"#;
    assert!(check("POST", "/token/", 200, "application/json", extra).is_err());
    assert!(check("POST", "/token/", 200, "text/html", ok).is_err());
    // A 500 must be exactly the fixed body.
    let leak = br#"{"error":"connection refused to 10.0.0.7"}"#;
    assert!(check(
        "POST",
        "/api/accounts/loans/",
        500,
        "application/json",
        leak
    )
    .is_err());
    // Path templates match ids only where the contract has them.
    assert!(check("GET", "/auth/info/7/", 418, "application/json", b"{}").is_err());
    assert!(check("GET", "/elsewhere/", 418, "application/json", b"{}").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_the_contract_and_the_docs_page() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let r = app
        .client
        .get(app.url("/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    assert_eq!(r.text().await.unwrap(), local::docs::OPENAPI_YAML);

    let r = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let page = r.text().await.unwrap();
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/docs.js",
    ] {
        assert!(page.contains(asset), "the page loads {asset}");
        let r = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.bytes().await.unwrap().len() > 100, "{asset}");
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from elsewhere"
    );
}

/// The schemathesis command: `$SCHEMATHESIS`, else the one `make setup` puts in `.venv/`.
fn schemathesis() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("SCHEMATHESIS") {
        return p.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/schemathesis");
    assert!(
        venv.exists(),
        "schemathesis is not installed: run `make setup` (it installs it into .venv/ from PyPI)"
    );
    venv
}

/// What one schemathesis run reported.
struct Run {
    tested: u64,
    generated: u64,
    summary: String,
}

/// Runs schemathesis on the operations `only` names (every other one if `except` is set) with
/// `token` as the bearer and `auth_key` credentials, and `id` as the path id where one is fixed.
/// Panics with the whole report if it finds anything.
async fn schemathesis_run(
    app: &TestApp,
    token: &str,
    ops: &[&str],
    except: bool,
    id: Option<u64>,
) -> Run {
    let command = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    let mut toml = format!(
        "[generation]\nmax-examples = 40\n\n[auth.openapi.bearerAuth]\nbearer = \"{token}\"\n\n\
         [auth.openapi.authKey]\napi_key = \"{token}\"\n"
    );
    if let Some(id) = id {
        toml.push_str(&format!("\n[parameters]\n\"path.id\" = {id}\n"));
    }
    std::fs::write(&config, toml).unwrap();
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml");
    let checks = [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "ignored_auth",
        "unsupported_method",
        "allow_header_conformance",
    ]
    .join(",");
    // One worker: with two, Python 3.11's `ast.parse` in hypothesis's threads can fail with
    // "AST constructor recursion depth mismatch" (a CPython race, not an API finding).
    let filter = if except {
        "--exclude-operation-id"
    } else {
        "--include-operation-id"
    };
    let output = tokio::process::Command::new(&command)
        .current_dir(dir.path()) // its cache of found crashes stays out of the repository
        .arg("--no-color")
        .arg("--config-file")
        .arg(&config)
        .args(["run", spec.to_str().unwrap(), "--url", &app.base])
        .args(["--checks", &checks, "--workers", "1", "--seed", "20261123"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(ops.iter().flat_map(|op| [filter, op]))
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {}: {e}", command.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems in {ops:?} (except: {except}):\n{stdout}\n{stderr}"
    );
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect();
    let tested = summary
        .iter()
        .find_map(|l| l.trim().strip_prefix("Tested:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the number of operations tested:\n{stdout}"));
    let generated = summary
        .iter()
        .find_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [n, "generated,", ..] => n.parse().ok(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the number of cases generated:\n{stdout}"));
    Run {
        tested,
        generated,
        summary: summary.join("\n"),
    }
}

/// Schemathesis generates requests for every operation from `openapi.yaml` — the examples, the
/// boundary values of every schema, then random valid and invalid data — and checks: no 5xx, no
/// undocumented status, content type or header, no body that breaks its schema, every request the
/// schema calls invalid refused with a 4xx, no operation that ignores bad credentials, and 405
/// with `Allow` for methods the contract does not list. A FINTRACT_ADMIN's token serves most
/// operations; operations on the caller's own account get an account of their own each (one
/// deactivates, one deletes itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_broken_response() {
    let app = TestApp::spawn_seeded_with(Backend::Embedded, |c| {
        c.throttle_multiplier = 1_000;
        c.access_ttl = std::time::Duration::from_secs(3_600);
    })
    .await;
    let admin = app.code_token(&acceptance::demo::ADMIN).await;
    let own = app.new_user("CUSTOMER").await;
    let own_token = app.access_of(&own).await;
    let deactivating = app.access_of(&app.new_user("CUSTOMER").await).await;
    let deleting = app.access_of(&app.new_user("DEVELOPER").await).await;

    let own_ops = ["update-user", "avatar", "update-username"];
    let mut all_own = own_ops.to_vec();
    all_own.extend(["deactivate-account", "delete-account"]);
    let runs = [
        schemathesis_run(&app, &admin, &all_own, true, None).await,
        schemathesis_run(&app, &own_token, &own_ops, false, Some(own.id)).await,
        schemathesis_run(&app, &deactivating, &["deactivate-account"], false, None).await,
        schemathesis_run(&app, &deleting, &["delete-account"], false, None).await,
    ];
    let tested: u64 = runs.iter().map(|r| r.tested).sum();
    let generated: u64 = runs.iter().map(|r| r.generated).sum();
    for run in &runs {
        println!("{}", run.summary);
    }
    println!("schemathesis: {tested} operations tested, {generated} cases generated, no failures");
    let operations = acceptance::contract::operations().len() as u64;
    assert_eq!(tested, operations, "every operation tested once");
    assert!(
        generated >= 20 * operations,
        "{generated} cases for {operations} operations"
    );
}
