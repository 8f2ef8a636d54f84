//! `openapi.yaml` as a checker: every response the suite receives from an operation the contract
//! describes must have a documented status and, for JSON, a body valid against its schema.
//! `TestApp::send` runs it on every answer, on both backends, so the whole suite proves the
//! contract against the real responses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// The contract as JSON.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_yaml_ng::from_str(local::docs::OPENAPI_YAML).expect("openapi.yaml is valid YAML")
    })
}

/// Every `(METHOD, path template)` the contract describes.
pub fn operations() -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in spec()["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if matches!(method.as_str(), "get" | "put" | "post" | "patch" | "delete") {
                ops.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// A JSON Schema of the contract, with the contract's components beside it so `$ref`s resolve.
pub fn validator(schema: &Value) -> Result<jsonschema::Validator, String> {
    let mut root = schema.clone();
    if let Value::Object(map) = &mut root {
        map.insert("components".into(), spec()["components"].clone());
    } else {
        return Err(format!("not a schema object: {schema}"));
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("schema does not compile: {e}"))
}

/// Follows a `$ref` of the contract (`#/components/...`) to what it names.
pub fn resolve(value: &Value) -> &Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("local $ref");
            resolve(
                spec()
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {r}")),
            )
        }
        None => value,
    }
}

type Cache = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;

/// Checks one answer against the contract; `Ok` for requests the contract does not describe.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<(), String> {
    let Some((_, template)) = operations()
        .into_iter()
        .find(|(m, t)| m == method && shared::route::path_matches(t, path))
    else {
        return Ok(());
    };
    let operation = &spec()["paths"][&template][method.to_ascii_lowercase()];
    let responses = &operation["responses"];
    let documented = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .ok_or_else(|| format!("{method} {template}: status {status} is not documented"))?;
    let documented = resolve(documented);
    let Some(content) = documented.get("content").and_then(Value::as_object) else {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{method} {template} {status}: a body where none is documented"
            ))
        };
    };
    let media = content_type.split(';').next().unwrap_or("").trim();
    let described = content.get(media).ok_or_else(|| {
        format!(
            "{method} {template} {status}: content type {media:?} is not documented ({:?})",
            content.keys().collect::<Vec<_>>()
        )
    })?;
    if media != "application/json" {
        return Ok(());
    }
    let instance: Value = serde_json::from_slice(body)
        .map_err(|e| format!("{method} {template} {status}: body is not JSON: {e}"))?;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = format!("{method} {template} {status} {media}");
    let validator = {
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
        match cache.get(&key) {
            Some(v) => v.clone(),
            None => {
                let v = Arc::new(validator(&described["schema"])?);
                cache.insert(key.clone(), v.clone());
                v
            }
        }
    };
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{key}: the body breaks the contract: {}\nbody: {instance}",
            problems.join("; ")
        ))
    }
}
