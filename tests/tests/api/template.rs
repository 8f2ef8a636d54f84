//! `template.yaml` declares exactly the tables of `shared::store::schema` and exactly the routes
//! of the gateway's route table.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml_ng::Value;
use shared::store::schema::{TableDef, COUNTER_TABLE, MAIN_TABLE};

fn template() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml at the top of the repository");
    serde_yaml_ng::from_str(&text).expect("template.yaml parses")
}

fn strs(v: &Value, key: &str) -> Vec<(String, String)> {
    v.as_sequence()
        .map(|seq| {
            seq.iter()
                .map(|e| {
                    let name = e["AttributeName"].as_str().unwrap_or_default().to_string();
                    let other = e[key].as_str().unwrap_or_default().to_string();
                    (name, other)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn key_schema(hash: &str, range: Option<&str>) -> Vec<(String, String)> {
    let mut keys = vec![(hash.to_string(), "HASH".to_string())];
    keys.extend(range.map(|r| (r.to_string(), "RANGE".to_string())));
    keys
}

fn check_table(def: &TableDef) {
    let t = template();
    let table = &t["Resources"][def.logical_id];
    assert_eq!(
        table["Type"].as_str(),
        Some("AWS::DynamoDB::Table"),
        "{} in template.yaml",
        def.logical_id
    );
    let p = &table["Properties"];
    assert_eq!(
        strs(&p["KeySchema"], "KeyType"),
        key_schema(def.hash, def.range),
        "{} key schema",
        def.logical_id
    );
    let declared: BTreeSet<_> = strs(&p["AttributeDefinitions"], "AttributeType")
        .into_iter()
        .collect();
    let wanted: BTreeSet<_> = def
        .key_attributes()
        .into_iter()
        .map(|a| (a.to_string(), "S".to_string()))
        .collect();
    assert_eq!(declared, wanted, "{} attribute definitions", def.logical_id);
    let gsis = p["GlobalSecondaryIndexes"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        gsis.len(),
        def.indexes.len(),
        "{} index count",
        def.logical_id
    );
    for index in def.indexes {
        let g = gsis
            .iter()
            .find(|g| g["IndexName"].as_str() == Some(index.name))
            .unwrap_or_else(|| panic!("index {} in template.yaml", index.name));
        assert_eq!(
            strs(&g["KeySchema"], "KeyType"),
            key_schema(index.hash, index.range)
        );
        assert_eq!(g["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    }
    let ttl = &p["TimeToLiveSpecification"];
    assert_eq!(
        ttl["AttributeName"].as_str(),
        def.ttl_attribute,
        "{} TTL",
        def.logical_id
    );
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
}

#[test]
fn the_main_table_in_the_template_is_the_one_the_code_uses() {
    check_table(&MAIN_TABLE);
}

#[test]
fn the_counter_table_in_the_template_is_the_one_the_code_uses() {
    check_table(&COUNTER_TABLE);
}

/// The template's `HttpApi` events as (function binary, METHOD, path), and its function binaries.
pub fn template_routes() -> (BTreeSet<(String, String, String)>, BTreeSet<String>) {
    let t = template();
    let mut declared = BTreeSet::new();
    let mut functions = BTreeSet::new();
    for (_, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .cloned()
            .unwrap_or_default()
        {
            if event["Type"].as_str() == Some("HttpApi") {
                let p = &event["Properties"];
                declared.insert((
                    binary.clone(),
                    p["Method"].as_str().unwrap_or_default().to_uppercase(),
                    p["Path"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        functions.insert(binary);
    }
    (declared, functions)
}

#[test]
fn the_template_routes_equal_the_gateway_route_table() {
    let (declared, functions) = template_routes();
    let mut wanted = BTreeSet::new();

    for r in functions::routes() {
        let with_slash = r.path.to_string();
        let without = with_slash.trim_end_matches('/').to_string();
        for path in [with_slash, without] {
            wanted.insert((r.function.to_string(), r.method.to_string(), path));
        }
    }
    assert_eq!(
        declared, wanted,
        "template.yaml HttpApi events vs the route table"
    );
    let route_functions: BTreeSet<_> = functions::routes()
        .iter()
        .map(|r| r.function.to_string())
        .collect();
    assert_eq!(
        functions, route_functions,
        "one template function per function of the registry"
    );
}

#[test]
fn every_function_of_the_registry_has_one_binary_one_template_function_and_one_event() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let names = |dir: &str, suffix: &str| -> BTreeSet<String> {
        std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(suffix).map(String::from))
            .collect()
    };
    let registry: BTreeSet<String> = functions::FUNCTIONS.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        registry.len(),
        functions::FUNCTIONS.len(),
        "a function named twice"
    );
    let binaries_built = names("functions/src/bin", ".rs");
    assert_eq!(
        binaries_built, registry,
        "functions/src/bin/<function>.rs for each function of the registry"
    );
    let events = names("events", ".json");
    assert_eq!(
        events, registry,
        "events/<function>.json for each function of the registry"
    );
    let t = template();
    let mut binaries = Vec::new();
    for (_, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            binaries.push(
                resource["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            assert_eq!(
                resource["Metadata"]["BuildMethod"].as_str(),
                Some("rust-cargolambda")
            );
        }
    }
    binaries.sort();
    assert_eq!(
        binaries,
        registry.iter().cloned().collect::<Vec<_>>(),
        "one template function per function of the registry"
    );
    let routed: BTreeSet<_> = functions::routes()
        .iter()
        .map(|r| r.function.to_string())
        .collect();
    assert_eq!(
        routed, registry,
        "every function of the registry has a route"
    );
}

/// API Gateway matches route keys exactly: a stricter limit on `POST /token/` leaves `POST /token`
/// at the default. Every throttled route must be throttled under both spellings, equally, and
/// every throttled key must be a route the template declares.
#[test]
fn every_route_throttle_covers_both_spellings_of_its_route() {
    let t = template();
    let settings = t["Resources"]["HttpApi"]["Properties"]["RouteSettings"]
        .as_mapping()
        .expect("HttpApi RouteSettings");
    let limits = |key: &str| {
        settings.get(Value::from(key)).map(|s| {
            (
                s["ThrottlingBurstLimit"].as_u64(),
                s["ThrottlingRateLimit"].as_u64(),
            )
        })
    };
    let (declared, _) = template_routes();
    let keys: BTreeSet<String> = declared
        .iter()
        .map(|(_, method, path)| format!("{method} {path}"))
        .collect();
    assert!(!settings.is_empty());
    for (key, _) in settings {
        let key = key.as_str().expect("a route key");
        assert!(keys.contains(key), "{key} throttles no declared route");
        let (method_path, twin) = match key.strip_suffix('/') {
            Some(without) => (key.to_string(), without.to_string()),
            None => (key.to_string(), format!("{key}/")),
        };
        let (mine, other) = (limits(&method_path), limits(&twin));
        assert!(
            mine.is_some_and(|(b, r)| b.is_some() && r.is_some()),
            "{key}: burst and rate limits"
        );
        assert_eq!(mine, other, "{key} and {twin} must have the same limits");
    }
}
