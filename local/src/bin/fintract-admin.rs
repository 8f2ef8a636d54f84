//! Operator commands, run against whatever backend the environment configures
//! (`BACKEND=aws TABLE_NAME=… AWS_REGION=…` for a deployment):
//!
//! ```text
//! fintract-admin create-admin --username NAME --email ADDRESS [--name "Full Name"] [--phone +256…]
//!     the password is read from FINTRACT_ADMIN_PASSWORD, or else from the first line of stdin
//! fintract-admin create-tables
//!     creates the two DynamoDB tables (for an emulator; in AWS, SAM creates them)
//! ```

use std::io::BufRead;
use std::process::ExitCode;

use local::admin::{create_admin, create_tables, AdminRequest};
use shared::config::Config;
use shared::Ctx;

const USAGE: &str = "usage: fintract-admin create-admin --username NAME --email ADDRESS [--name NAME] [--phone PHONE]
       fintract-admin create-tables";

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
