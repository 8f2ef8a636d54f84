//! Operator commands behind `fintract-admin`: creating the first FINTRACT_ADMIN of a deployment
//! (no deployment has a default credential) and creating the DynamoDB tables for a local emulator.

use shared::model::{NewUser, User, UserType};
use shared::store::schema::{COUNTER_TABLE, MAIN_TABLE};
use shared::validate::{is_email, normalize_phone, username_problem, MIN_PASSWORD_CHARS};
use shared::{password, Ctx};

/// What an operator supplies for a new admin.
pub struct AdminRequest {
    pub username: String,
    pub email: String,
    pub name: String,
    pub phone: String,
    pub password: String,
}

/// Creates a verified FINTRACT_ADMIN, refusing weak or malformed input (a guessable password, a
/// username that mixes scripts) and taken names.
pub async fn create_admin(ctx: &Ctx, r: AdminRequest) -> Result<User, String> {
    if let Some(problem) = username_problem(&r.username) {
        return Err(format!("username: {problem}"));
    }
    if !is_email(&r.email) {
        return Err("email: not a valid address".into());
    }
    let chars = r.password.chars().count();
    if !(MIN_PASSWORD_CHARS.max(12)..=password::MAX_PASSWORD_CHARS).contains(&chars) {
        return Err("password: an admin password needs 12 to 128 characters".into());
    }
    // The same check as registration, once the rest is right.
    let context = [&r.username, &r.email, &r.name, &r.phone].map(String::as_str);
    if let Some(why) = shared::strength::weakness(&r.password, &context) {
        return Err(format!("password: {why}"));
    }
    let phone = if r.phone.is_empty() {
        String::new()
    } else {
        normalize_phone(&r.phone).ok_or("phone: 7 to 15 digits, optionally starting with +")?
    };
    let password_hash = password::hash(r.password)
        .await
        .map_err(|e| e.to_string())?;
    let customer_id = format!("9{:015}", rand::random::<u64>() % 1_000_000_000_000_000);
    let created = ctx
        .store
        .create_user(NewUser {
            username: r.username,
            email: r.email.to_lowercase(),
            name: r.name,
            phone,
            user_type: UserType::FintractAdmin,
            customer_id,
            gender: None,
            password_hash,
            is_verified: true,
            admin_approved: true,
            created_at: ctx.now(),
        })
        .await
        .map_err(|e| e.to_string())?;
    created.map_err(|taken| format!("{}: already taken", taken.field()))
}

/// Creates both tables on the configured AWS endpoint (for moto or a fresh account without SAM).
pub async fn create_tables(
    client: &aws_sdk_dynamodb::Client,
    main: &str,
    counters: &str,
) -> Result<(), String> {
    MAIN_TABLE
        .create(client, main)
        .await
        .map_err(|e| e.to_string())?;
    COUNTER_TABLE
        .create(client, counters)
        .await
        .map_err(|e| e.to_string())
}
