//! `fintract-admin create-admin` run as an operator would, against an embedded database.

use std::io::Write;
use std::process::{Command, Stdio};

use shared::config::Config;
use shared::model::UserType;
use shared::Ctx;

fn run(db: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fintract-admin"))
        .args(args)
        .env("BACKEND", "embedded")
        .env("DATABASE_PATH", db)
        .env("LOCAL_SECRET", "a-test-secret-that-is-at-least-32-bytes")
        .env_remove("FINTRACT_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fintract-admin runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn create_admin_makes_a_verified_fintract_admin_who_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("api.db");
    let args = [
        "create-admin",
        "--username",
        "ops",
        "--email",
        "Ops@Bank.example",
        "--name",
        "Ops",
    ];
    let out = run(&db, &args, "a long admin password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created FINTRACT_ADMIN ops"));

    let ctx = Ctx::embedded(Config::embedded(
        &db,
        b"a-test-secret-that-is-at-least-32-bytes".to_vec(),
    ))
    .unwrap();
    let user = ctx
        .store
        .user_by_username("ops")
        .await
        .unwrap()
        .expect("the admin exists");
    assert_eq!(user.user_type, UserType::FintractAdmin);
    assert!(user.is_verified && user.admin_approved && user.is_active);
    assert_eq!(user.email, "ops@bank.example");
    assert!(
        shared::password::verify("a long admin password".into(), Some(user.password_hash)).await
    );

    let again = run(&db, &args, "a long admin password\n");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("username: already taken"));
}

#[test]
fn weak_or_missing_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("api.db");
    let short = run(
        &db,
        &[
            "create-admin",
            "--username",
            "ops",
            "--email",
            "ops@bank.example",
        ],
        "1234\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("12 to 128 characters"));
    let bad_email = run(
        &db,
        &["create-admin", "--username", "ops", "--email", "nope"],
        "a long admin password\n",
    );
    assert!(String::from_utf8_lossy(&bad_email.stderr).contains("email"));
    let usage = run(&db, &["create-admin"], "");
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage"));
}

/// An operator's admin is held to the registration rules too: a guessable password (one built
/// from the admin's own name included) and a username mixing scripts are refused, and nothing
/// is created.
#[test]
fn a_guessable_password_or_a_mixed_script_username_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("api.db");
    let create = |username: &str, password: &str| {
        let args = [
            "create-admin",
            "--username",
            username,
            "--email",
            "ops@bank.example",
        ];
        run(&db, &args, &format!("{password}\n"))
    };
    for (password, why) in [
        ("password123456", "common"),
        ("Opsadmin12345", "built from your username"),
    ] {
        let out = create("opsadmin", password);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("password: This password is too easy to guess.")
                && stderr.contains(why),
            "{password}: {stderr}"
        );
    }
    let out = create("\u{43e}psadmin", "a long admin password");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one script"));
    let out = create("opsadmin", "a long admin password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn import_validates_everything_first_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("api.db");
    let good = dir.path().join("accounts.csv");
    std::fs::write(
        &good,
        "account_number,customer_id,customer_name,balance,currency,loan_id,disbursement_date,principal,outstanding_amount\n\
         6000000001,C100,\"Okot, Daniel\",1000,UGX,L100001,2024-05-01T08:00:00Z,500000,200000\n\
         6000000002,C101,Amina N,0,UGX,,,,\n",
    )
    .unwrap();
    for _ in 0..2 {
        let out = run(&db, &["import", good.to_str().unwrap()], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("imported 2 account(s) and 1 loan(s)")
        );
    }
    let ctx = Ctx::embedded(Config::embedded(
        &db,
        b"a-test-secret-that-is-at-least-32-bytes".to_vec(),
    ))
    .unwrap();
    let found = ctx
        .store
        .account_with_loans("6000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.loans.len(), 1, "importing twice wrote each loan once");
    assert_eq!(found.account.customer_name, "Okot, Daniel");

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"accounts":[{"account_number":"6000000009","customer_id":"C109","customer_name":"Fine"},
                        {"account_number":"x","customer_id":"C110","customer_name":"Broken"}]}"#,
    )
    .unwrap();
    let out = run(&db, &["import", bad.to_str().unwrap()], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing imported"));
    assert!(
        ctx.store
            .account_with_loans("6000000009")
            .await
            .unwrap()
            .is_none(),
        "all or nothing"
    );
}

#[test]
fn demo_tokens_are_refused_outside_the_embedded_backend() {
    let out = Command::new(env!("CARGO_BIN_EXE_fintract-admin"))
        .args(["demo-token", "jblunt"])
        .env("BACKEND", "aws")
        .env("LOCAL_SECRET", "a-test-secret-that-is-at-least-32-bytes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("embedded backend only"));
}
