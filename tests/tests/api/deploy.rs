//! The deploy rehearsal: `template.yaml` as CloudFormation reads it after the Serverless
//! transform (no cycle, every reference resolves, every route wired and permitted), cfn-lint on
//! both forms, each policy naming only its own resources, and each policy's actions proven
//! sufficient and necessary against the IAM-enforcing emulator.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use acceptance::rehearsal::{rehearse, template_path, transformed, Rehearsal};
use acceptance::{demo, Backend, TestApp};
use serde_json::Value;

/// Rehearses a copy of `template.yaml` changed by `edit` (which must change something).
fn rehearse_edited(name: &str, edit: impl Fn(&str) -> String) -> Rehearsal {
    let original = std::fs::read_to_string(template_path()).unwrap();
    let edited = edit(&original);
    assert_ne!(edited, original, "{name}: the edit changed nothing");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, edited).unwrap();
    let r = rehearse(&path, &dir.path().join("out"));
    drop(dir);
    r
}

#[test]
fn the_template_deploys_after_the_serverless_transform() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(&template_path(), dir.path());
    assert!(r.passed, "{}", r.report);
    assert!(r.report.contains("rehearsal passed"), "{}", r.report);
    println!("{}", r.report.trim());
}

#[test]
fn cfn_lint_passes_the_transformed_template() {
    let cfn_lint = acceptance::moto::python().with_file_name("cfn-lint");
    let out = Command::new(&cfn_lint)
        .arg(transformed())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (make setup installs it)", cfn_lint.display()));
    assert!(
        out.status.success(),
        "cfn-lint on the transformed template:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_rehearsal_refuses_the_api_and_its_functions_referencing_each_other() {
    let r = rehearse_edited("cycle", |t| {
        t.replace(
            "PUBLIC_BASE_URL: !Ref PublicBaseUrl",
            r#"PUBLIC_BASE_URL: !Sub "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}""#,
        )
    });
    assert!(!r.passed, "{}", r.report);
    assert!(r.report.contains("circular dependency"), "{}", r.report);
    assert!(r.report.contains("HttpApi"), "{}", r.report);
}

#[test]
fn the_rehearsal_refuses_a_route_the_api_does_not_serve() {
    let r = rehearse_edited("route", |t| {
        t.replacen(
            r#"Properties: { ApiId: !Ref HttpApi, Method: POST, Path: "/token" }"#,
            r#"Properties: { ApiId: !Ref HttpApi, Method: POST, Path: "/token-typo" }"#,
            1,
        )
    });
    assert!(!r.passed);
    assert!(
        r.report.contains("route missing: POST /token -> token"),
        "{}",
        r.report
    );
}

#[test]
fn the_rehearsal_refuses_a_reference_to_nothing() {
    let r = rehearse_edited("reference", |t| {
        t.replacen(
            "Resource: !Ref SigningKeysSecretArn",
            "Resource: !Ref SigningKeysSecretArm",
            1,
        )
    });
    assert!(!r.passed);
    assert!(
        r.report.contains("unresolved reference") && r.report.contains("SigningKeysSecretArm"),
        "{}",
        r.report
    );
}

/// A policy resource as a short name: `MainTable`, `MainTable/index/gsi1`,
/// `BlobBucket/avatars/*`, `SigningKeysSecretArn`, `ses-identity`, or `*`.
fn resource_name(v: &Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_string();
    }
    if let Some(att) = v["Fn::GetAtt"].as_array() {
        return att[0].as_str().unwrap_or("?").to_string();
    }
    if let Some(r) = v["Ref"].as_str() {
        return r.to_string();
    }
    let sub = match &v["Fn::Sub"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts[0].as_str().unwrap_or("?").to_string(),
        _ => return format!("{v}"),
    };
    if sub.ends_with(":identity/${Identity}") {
        return "ses-identity".into();
    }
    sub.replace("${", "").replace(".Arn}", "")
}

/// Every (function, action, resource) of the functions' roles in the transformed template.
fn grants() -> BTreeSet<(String, String, String)> {
    let t: Value = serde_json::from_slice(&std::fs::read(transformed()).unwrap()).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    let mut out = BTreeSet::new();
    for resource in resources.values() {
        if resource["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_string();
        let role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap();
        for policy in resources[role]["Properties"]["Policies"]
            .as_array()
            .unwrap()
        {
            for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                if statement["Effect"] == "Deny" {
                    continue; // `keys_are_written_by_the_operator_alone`
                }
                assert_eq!(statement["Effect"], "Allow");
                let list = |v: &Value| match v {
                    Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                // A grant held to some partitions names them: `MainTable[LOSSES]`.
                let only =
                    &statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"];
                let partitions = only.as_array().map(|keys| {
                    let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
                    format!("[{}]", keys.join(","))
                });
                assert!(
                    statement.get("Condition").is_none() || partitions.is_some(),
                    "{binary}: a condition other than leading keys: {statement}"
                );
                for action in list(&statement["Action"]) {
                    for r in list(&statement["Resource"]) {
                        let action = action.as_str().unwrap().to_string();
                        let name = resource_name(&r) + partitions.as_deref().unwrap_or("");
                        out.insert((binary.clone(), action, name));
                    }
                }
            }
        }
    }
    out
}

/// The emulator matches actions only, not resource ARNs (README, "Least privilege, proven"): the
/// resources are checked here. Each action may name only the resources its service's calls in
/// our code touch; `*` only for SMS.
#[test]
fn every_policy_names_only_the_resources_its_function_uses() {
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "dynamodb",
            &[
                "MainTable",
                "MainTable/index/gsi1",
                "CounterTable",
                "MainTable[LOSSES]",
            ][..],
        ),
        (
            "s3:GetObject",
            &["BlobBucket/avatars/*", "BlobBucket/uploads/*"][..],
        ),
        (
            "s3:PutObject",
            &["BlobBucket/avatars/*", "BlobBucket/uploads/*"][..],
        ),
        (
            "s3:DeleteObject",
            &["BlobBucket/avatars/*", "BlobBucket/uploads/*"][..],
        ),
        ("s3:ListBucket", &["BlobBucket"][..]),
        (
            "secretsmanager:GetSecretValue",
            &[
                "SigningKeysSecretArn",
                "OtpKeySecretArn",
                "DashboardKeySecretArn",
            ][..],
        ),
        ("ses:SendEmail", &["ses-identity"][..]),
        // SMS goes to a phone number, which has no ARN.
        ("sns:Publish", &["*"][..]),
    ]);
    let grants = grants();
    assert!(grants.len() > 50, "{grants:?}");
    for (function, action, resource) in &grants {
        let service = action.split(':').next().unwrap();
        let names = allowed
            .get(action.as_str())
            .or_else(|| allowed.get(service))
            .unwrap_or_else(|| panic!("{function}: unexpected action {action}"));
        assert!(
            names.contains(&resource.as_str()),
            "{function}: {action} on {resource}"
        );
    }
    // Counters are only ever added to, except by the dashboard that reads them and writes their
    // roll-ups; every counting function may record a lost count, and only in its partition.
    for (function, action, resource) in &grants {
        if resource == "CounterTable" && function != "dashboard" {
            assert_eq!(action, "dynamodb:UpdateItem", "{function}");
        }
        if resource == "MainTable[LOSSES]" && function != "dashboard" {
            assert_eq!(action, "dynamodb:UpdateItem", "{function}");
        }
    }
    // The dashboard reads the lost counts: a Query of that partition alone.
    assert!(
        grants.contains(&(
            "dashboard".to_string(),
            "dynamodb:Query".to_string(),
            "MainTable[LOSSES]".to_string()
        )),
        "the dashboard cannot read the lost counts"
    );
    assert!(
        !grants
            .iter()
            .any(|(f, a, r)| f == "dashboard" && a == "dynamodb:Query" && r == "MainTable"),
        "the dashboard queries no other partition of the main table"
    );
    let counting: BTreeSet<&str> = functions::routes()
        .iter()
        .filter(|r| r.counted)
        .map(|r| r.function)
        .collect();
    for function in &counting {
        let grant = |action: &str, resource: &str| {
            grants.contains(&(
                function.to_string(),
                action.to_string(),
                resource.to_string(),
            ))
        };
        assert!(
            grant("dynamodb:UpdateItem", "CounterTable"),
            "{function} counts"
        );
        assert!(
            grant("dynamodb:UpdateItem", "MainTable[LOSSES]"),
            "{function} records a count the counter table refused"
        );
    }
    assert_eq!(
        shared::store::dynamo::LOSSES_PK,
        "LOSSES",
        "the template's condition names the partition the code writes"
    );
    // Each secret is read by exactly the functions that hold its key, and each of those finds
    // its ARN in its environment: the private signing keys by the issuers alone.
    for (variable, holders) in shared::signing::KEY_HOLDERS {
        let parameter = match *variable {
            "JWT_SIGNING_KEYS_ARN" => "SigningKeysSecretArn",
            "OTP_KEY_ARN" => "OtpKeySecretArn",
            _ => "DashboardKeySecretArn",
        };
        let readers: BTreeSet<String> = grants
            .iter()
            .filter(|(_, a, r)| a == "secretsmanager:GetSecretValue" && r == parameter)
            .map(|(f, _, _)| f.clone())
            .collect();
        let expected: BTreeSet<String> = holders.iter().map(|h| h.to_string()).collect();
        assert_eq!(readers, expected, "{parameter}");
        let named: BTreeSet<String> = environments()
            .into_iter()
            .filter(|(_, env)| env.get(*variable).is_some())
            .map(|(f, _)| f)
            .collect();
        assert_eq!(named, expected, "{variable} in the environment");
    }
    assert!(
        !grants
            .iter()
            .any(|(f, a, _)| f == "loans" && a.starts_with("secretsmanager:")),
        "loans only verifies: it reads no secret"
    );
}

/// The published token keys (`KEYS` in the main table) are trusted by every verifier, so no
/// function may write them: each role that can write the main table denies exactly that
/// partition (the emulator ignores conditions; this checks them as CloudFormation receives them).
#[test]
fn keys_are_written_by_the_operator_alone() {
    let t: Value = serde_json::from_slice(&std::fs::read(transformed()).unwrap()).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    let writers: BTreeSet<String> = grants()
        .into_iter()
        .filter(|(_, a, r)| {
            r == "MainTable"
                && [
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ]
                .contains(&a.as_str())
        })
        .map(|(f, _, _)| f)
        .collect();
    assert!(writers.len() > 10, "{writers:?}");
    for resource in resources.values() {
        if resource["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        if !writers.contains(binary) {
            continue;
        }
        let role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap();
        let denied = resources[role]["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
            .any(|st| {
                let actions: BTreeSet<&str> = st["Action"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                st["Effect"] == "Deny"
                    && resource_name(&st["Resource"]) == "MainTable"
                    && [
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                    ]
                    .iter()
                    .all(|a| actions.contains(a))
                    && st["Condition"]["ForAnyValue:StringEquals"]["dynamodb:LeadingKeys"]
                        == serde_json::json!([shared::store::dynamo::PUBLISHED_KEYS_PK])
            });
        assert!(denied, "{binary} may write the published keys");
    }
}

/// Each function's own environment variables in the transformed template (the globals aside).
fn environments() -> BTreeMap<String, serde_json::Map<String, Value>> {
    let t: Value = serde_json::from_slice(&std::fs::read(transformed()).unwrap()).unwrap();
    t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Function")
        .map(|r| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_string();
            let env = r["Properties"]["Environment"]["Variables"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            (binary, env)
        })
        .collect()
}

mod iam {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_function_whose_policy_lacks_an_action_its_code_calls_fails() {
        let app = TestApp::spawn(Backend::AwsIam).await;
        let access = app.access_token(&demo::JAMES).await;
        let served = app.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
        assert_eq!(served.status, 200, "{:?}", served.body);

        let prefix = acceptance::unique("noquery");
        let without = acceptance::iam::identities_without("loans", "dynamodb:Query", &prefix);
        let weaker = app.with_identities(&without).await;
        let refused = weaker.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
        assert_eq!(
            (refused.status, refused.error()),
            (500, "Something went wrong. Please try again later."),
            "loans without dynamodb:Query"
        );
        // The same gateway's other functions keep their whole policies.
        assert_eq!(
            weaker.token("jblunt", demo::JAMES.password).await.status,
            200
        );
    }
}
