//! `POST /auth/register/`: creates a user (CUSTOMER or DEVELOPER by themselves; other types only
//! by a FINTRACT_ADMIN) and mails a verification link. E-mail and username are claimed in one
//! transaction with the user; a bank customer id given here is only a claim, bound to one
//! account when a Fintract admin approves it, so nobody can squat it. The username must keep to
//! one script and is unique under its confusable skeleton; a password easy to guess is refused.

use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::model::{Gender, NewUser, UserType};
use shared::store::Taken;
use shared::users::{new_customer_id, taken_message};
use shared::validate::{is_customer_id, normalize_phone, username_problem};
use shared::views::registered;
use shared::{password, ApiError, ApiResult, Body, Ctx, Request, Response};

/// Registrations per source address per hour.
const PER_SOURCE_PER_HOUR: u64 = 20;

struct Registration {
    user: NewUser,
    password: String,
    customer_id_given: bool,
}

fn parse(req: &Request, now: i64) -> ApiResult<Registration> {
    let mut f = Fields::from_request(req)?;
    let email = f.email("email", true).unwrap_or_default();
    let username = f.required_str("username", 150);
    if !username.is_empty() {
        if let Some(problem) = username_problem(&username) {
            f.problem("username", problem);
        }
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
    // Last, once everything else is right: it judges the password against the details above.
    f.refuse_guessable_password("password", &password, &[&username, &email, &name, &phone]);
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
            created_at: now,
        },
        password,
    })
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
    } = parse(&req, ctx.now())?;
    if !matches!(user.user_type, UserType::Customer | UserType::Developer) {
        let caller = ctx.authenticate(&req).await?;
        if !shared::roles::may(
            caller.user_type,
            shared::roles::Action::Create,
            user.user_type,
        ) {
            return Err(ApiError::forbidden(format!(
                "Only a Fintract admin can create a {} account.",
                user.user_type.as_str()
            )));
        }
    }
    // One account per bank customer: once an id is bound, nobody else may claim it. Before, any
    // number may claim it; the admin who approves chooses.
    if customer_id_given
        && ctx
            .store
            .user_by_customer_id(&user.customer_id)
            .await?
            .is_some()
    {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            "customer_id".to_string(),
            "This bank customer already has an account.".to_string(),
        );
        return Err(ApiError::invalid_fields(fields));
    }
    user.password_hash = password::hash(password).await.map_err(ApiError::internal)?;
    let mut attempts = 0;
    let created = loop {
        attempts += 1;
        match ctx.store.create_user(user.clone()).await? {
            Ok(created) => break created,
            // An unverified account past its time frees its e-mail and username: once.
            Err(taken @ (Taken::Username | Taken::Email))
                if attempts == 1 && ctx.purge_expired_holder(taken, &user).await? => {}
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
