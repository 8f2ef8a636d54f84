//! Operator commands, run against whatever backend the environment configures
//! (`BACKEND=aws TABLE_NAME=… AWS_REGION=…` for a deployment):
//!
//! ```text
//! fintract-admin create-admin --username NAME --email ADDRESS [--name "Full Name"] [--phone +256…]
//!     the password is read from FINTRACT_ADMIN_PASSWORD, or else from the first line of stdin
//! fintract-admin create-tables
//!     creates the two DynamoDB tables (for an emulator; in AWS, SAM creates them)
//! fintract-admin import FILE.json|FILE.csv
//!     imports accounts and loans: all validated first, idempotent
//! fintract-admin seed-demo
//!     the demo data of `make run` (refused unless BACKEND=embedded)
//! fintract-admin demo-token USERNAME [access|refresh]
//!     a token for a demo user, for `make invoke` (refused unless BACKEND=embedded)
//! fintract-admin keys new
//!     prints a first signing key set, for creating the secret before the first deployment
//! fintract-admin keys sync|publish|activate|retire
//!     the signing keys' life cycle, on JWT_SIGNING_KEYS_ARN (or _FILE) and the table
//! fintract-admin keys show
//!     prints the published key set (a JWKS, for the template's JwtPublicKeys parameter)
//! ```

use std::io::BufRead;
use std::process::ExitCode;

use local::admin::{create_admin, create_tables, AdminRequest};
use shared::config::Config;
use shared::signing::Step;
use shared::Ctx;

const USAGE: &str = "usage: fintract-admin create-admin --username NAME --email ADDRESS [--name NAME] [--phone PHONE]
       fintract-admin create-tables
       fintract-admin import FILE.json|FILE.csv
       fintract-admin migrate
       fintract-admin seed-demo
       fintract-admin demo-token USERNAME [access|refresh]
       fintract-admin keys new|sync|publish|activate|retire|show";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("create-admin") => run_create_admin(&args).await,
        Some("create-tables") => run_create_tables().await,
        Some("import") => run_import(&args).await,
        Some("migrate") => run_migrate().await,
        Some("seed-demo") => run_seed_demo().await,
        Some("demo-token") => run_demo_token(&args).await,
        Some("keys") => run_keys(&args).await,
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fintract-admin: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_create_admin(args: &[String]) -> Result<String, String> {
    let (Some(username), Some(email)) = (flag(args, "--username"), flag(args, "--email")) else {
        return Err(USAGE.to_string());
    };
    let password = match std::env::var("FINTRACT_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let ctx = Ctx::from_env().await.map_err(|e| e.to_string())?;
    let user = create_admin(
        &ctx,
        AdminRequest {
            username,
            email,
            name: flag(args, "--name").unwrap_or_default(),
            phone: flag(args, "--phone").unwrap_or_default(),
            password,
        },
    )
    .await?;
    Ok(format!(
        "created FINTRACT_ADMIN {} with id {}",
        user.username, user.id
    ))
}

/// After an upgrade: user items of an earlier layout get the index entries the current code
/// reads (claimants, staff by role), customer-id claims of the earlier design are settled, and
/// username claims move to confusable-skeleton keys. Usernames that collide under skeletons are
/// listed: both accounts are kept and work, and the operator decides.
async fn run_migrate() -> Result<String, String> {
    let ctx = Ctx::from_env().await.map_err(|e| e.to_string())?;
    let report = ctx.store.migrate_users().await.map_err(|e| e.to_string())?;
    let mut message = format!("migrated {} items", report.rewritten);
    if !report.collisions.is_empty() {
        message.push_str(&format!(
            "\n{} username(s) look like another account's and kept their previous key:",
            report.collisions.len()
        ));
        for collision in &report.collisions {
            message.push_str(&format!("\n  {collision}"));
        }
    }
    Ok(message)
}

async fn run_create_tables() -> Result<String, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(shared::context::sdk_timeouts())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    create_tables(&client, &config.table_name, &config.counter_table_name).await?;
    Ok(format!(
        "created tables {} and {}",
        config.table_name, config.counter_table_name
    ))
}

async fn run_import(args: &[String]) -> Result<String, String> {
    let path = args.get(1).ok_or(USAGE)?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let records = local::import::parse(path, &text).map_err(|problems| {
        format!(
            "{path}: nothing imported, {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        )
    })?;
    let ctx = Ctx::from_env().await.map_err(|e| e.to_string())?;
    let (accounts, loans) = local::import::import(&ctx, &records).await?;
    Ok(format!(
        "imported {accounts} account(s) and {loans} loan(s) from {path}"
    ))
}

/// Demo data and tokens exist only on the embedded backend: never in a deployment.
async fn embedded_ctx() -> Result<Ctx, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    if config.backend == shared::config::Backend::Aws {
        return Err("demo data and demo tokens are for the embedded backend only".into());
    }
    Ctx::embedded(config).map_err(|e| e.to_string())
}

async fn run_seed_demo() -> Result<String, String> {
    let ctx = embedded_ctx().await?;
    let seeded = local::demo::seed(&ctx).await.map_err(|e| e.to_string())?;
    Ok(if seeded {
        "demo data seeded"
    } else {
        "demo data already present"
    }
    .into())
}

async fn run_demo_token(args: &[String]) -> Result<String, String> {
    let username = args.get(1).ok_or(USAGE)?;
    let ctx = embedded_ctx().await?;
    let user = ctx
        .store
        .user_by_username(username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or(format!("no user {username}"))?;
    // For `make invoke` on this machine's demo data: as if signed in with the code, so that the
    // Fintract events (which need it) and the DFCU ones (which accept it) both work.
    let issuer = ctx
        .config
        .public_base_url
        .clone()
        .unwrap_or_else(|| shared::config::LOCAL_BASE_URL.into());
    let pair = ctx
        .issue_tokens(&issuer, &user, shared::jwt::Earned::PasswordAndCode)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(match args.get(2).map(String::as_str) {
        Some("refresh") => pair.refresh,
        _ => pair.access,
    })
}

/// `keys new|publish|activate|retire|sync|show`: the signing keys' life cycle (README, "Signing
/// keys"). The steps act on the secret `JWT_SIGNING_KEYS_ARN` names (or the file
/// `JWT_SIGNING_KEYS_FILE` names) and on the published copy in the table.
async fn run_keys(args: &[String]) -> Result<String, String> {
    let step = match args.get(1).map(String::as_str) {
        Some("new") => {
            // A first signing set, for creating the secret before the first deployment.
            let mut set = shared::keys::KeySet::default();
            set.publish(shared::now()).map_err(|e| e.to_string())?;
            return Ok(set.to_json());
        }
        Some("show") => {
            let ctx = Ctx::from_env().await.map_err(|e| e.to_string())?;
            let set = ctx
                .store
                .published_keys()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no keys are published yet: run `fintract-admin keys sync`")?;
            return Ok(set.jwks().to_string());
        }
        Some("sync") => Step::Sync,
        Some("publish") => Step::Publish,
        Some("activate") => Step::Activate,
        Some("retire") => Step::Retire,
        _ => return Err(USAGE.to_string()),
    };
    let ctx = Ctx::from_env().await.map_err(|e| e.to_string())?;
    shared::signing::rotate(&ctx, step)
        .await
        .map_err(|e| e.to_string())
}
