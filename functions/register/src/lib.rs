//! `POST /auth/register/`: creates a user (CUSTOMER or DEVELOPER by themselves; other types only
//! by a FINTRACT_ADMIN) and mails a verification link. E-mail, username and customer id are
//! claimed in one transaction with the user.

use rand::Rng;
use shared::http::{json, Fields, StatusCode};
use shared::model::{Gender, NewUser, UserType};
use shared::store::Taken;
use shared::users::{registered, taken_message};
use shared::validate::{is_customer_id, is_username, normalize_phone};
use shared::{password, ApiError, ApiResult, Body, Ctx, Request, Response};

shared::route!("register", POST, "/auth/register/", handle, Code);

/// Registrations per source address per hour.
const PER_SOURCE_PER_HOUR: u64 = 20;

struct Registration {
    user: NewUser,
    password: String,
    customer_id_given: bool,
}

fn parse(req: &Request) -> ApiResult<Registration> {
    let mut f = Fields::from_request(req)?;
    let email = f.email("email", true).unwrap_or_default();
    let username = f.required_str("username", 150);
    if !username.is_empty() && !is_username(&username) {
        f.problem(
            "username",
            "Use 3 to 150 letters, digits and @ . + - _ only.",
        );
    }
    let name = f.optional_str("name", 150).unwrap_or_default();
    let user_type = match f.optional_str("user_type", 32).filter(|s| !s.is_empty()) {
        None => UserType::Customer,
        Some(s) => UserType::parse(&s).unwrap_or_else(|| {
            f.problem(
                "user_type",
                "Must be one of CUSTOMER, BANK_ADMIN, FINTRACT_ADMIN, DEVELOPER, DEVELOPER_ADMIN.",
            );
            UserType::Customer
        }),
    };
    let password = f.new_password("password", "password2");
    let phone = f.required_str("phone", 32);
    let phone = if phone.is_empty() {
        phone
    } else {
        normalize_phone(&phone).unwrap_or_else(|| {
            f.problem(
                "phone",
                "Enter a phone number of 7 to 15 digits, optionally starting with +.",
            );
            String::new()
        })
    };
    let customer_id = f.optional_str("customer_id", 32).filter(|s| !s.is_empty());
    if customer_id.as_deref().is_some_and(|c| !is_customer_id(c)) {
        f.problem("customer_id", "Use 1 to 32 letters and digits.");
    }
    let gender = match f
        .optional_str("gender", 16)
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "" => None,
        "MALE" => Some(Gender::Male),
        "FEMALE" => Some(Gender::Female),
        _ => {
            f.problem("gender", "Must be MALE, FEMALE or empty.");
            None
        }
    };
    f.finish()?;
    Ok(Registration {
        customer_id_given: customer_id.is_some(),
        user: NewUser {
            username,
            email,
            name,
            phone,
            user_type,
            customer_id: customer_id.unwrap_or_else(new_customer_id),
            gender,
            password_hash: String::new(),
            is_verified: false,
            admin_approved: false,
            created_at: shared::now(),
        },
        password,
    })
}

/// A random 16-digit customer id (DESIGN.md §4).
fn new_customer_id() -> String {
    let mut rng = rand::rngs::OsRng;
    format!(
        "{}{:015}",
        rng.gen_range(1..10),
        rng.gen_range(0..1_000_000_000_000_000u64)
    )
}

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    // Known before anything is written: without it no verification link can be mailed.
    let base_url = ctx.public_base_url(&req)?;
    ctx.throttle_source("register", &req, PER_SOURCE_PER_HOUR, 3600)
        .await?;
    let Registration {
        mut user,
        password,
        customer_id_given,
    } = parse(&req)?;
    if !matches!(user.user_type, UserType::Customer | UserType::Developer) {
        let caller = ctx.authenticate(&req).await?;
        if caller.user_type != UserType::FintractAdmin {
            return Err(ApiError::forbidden(format!(
                "Only a Fintract admin can create a {} account.",
                user.user_type.as_str()
            )));
        }
    }
    user.password_hash = password::hash(password).await.map_err(ApiError::internal)?;
    let mut attempts = 0;
    let created = loop {
        attempts += 1;
        match ctx.store.create_user(user.clone()).await? {
            Ok(created) => break created,
            Err(Taken::CustomerId) if !customer_id_given && attempts < 5 => {
                user.customer_id = new_customer_id();
            }
            Err(taken) => {
                let message = match taken {
                    Taken::CustomerId => "This bank customer already has an account.".to_string(),
                    other => taken_message(other.field()),
                };
                let mut fields = std::collections::BTreeMap::new();
                fields.insert(taken.field().to_string(), message);
                return Err(ApiError::invalid_fields(fields));
            }
        }
    };
    if let Err(e) = ctx
        .send_verification(&base_url, created.id, &created.email)
        .await
    {
        // The account exists; the person can ask for a new link with /auth/re-verify-email/.
        tracing::error!(user_id = created.id, error = ?e, "verification e-mail not sent");
    }
    Ok(json(StatusCode::CREATED, &registered(&created)))
}
