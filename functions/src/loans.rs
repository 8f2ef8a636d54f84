//! `POST /api/accounts/loans/`: the outstanding loans of an account, for its owner or an admin.

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::model::{User, UserType};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

/// What a customer not yet approved by a Fintract admin is told (ARCHITECTURE.md §5).
pub const AWAITING_APPROVAL: &str = "Account awaiting admin approval.";

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    // A token that does not verify answers 401 before anything is read.
    let claims = ctx.verify_access(&req).await?;
    let account_number = match account_number(&req) {
        Ok(number) => number,
        Err(bad_request) => {
            // Authentication answers first, as everywhere: a revoked token with a bad body is 401.
            ctx.live_user(&claims).await?;
            return Err(bad_request);
        }
    };
    // The user re-read (ARCHITECTURE.md §5) and the account query do not depend on each other: one
    // round trip for both. The account is looked at only once the user is known to be live.
    let (user, found) = tokio::join!(
        ctx.live_user(&claims),
        ctx.store.account_with_loans(&account_number)
    );
    let user = user?;
    // Its document's answer to any token it does not take: 401 "Invalid Auth Token.".
    shared::auth::assured(&req, &claims).map_err(|_| ApiError::invalid_token())?;
    may_read_customer_data(&user)?;

    let not_found = || ApiError::not_found("Account not found.");
    let found = found?.ok_or_else(not_found)?;
    if !user.user_type.is_admin() && found.account.customer_id != user.customer_id {
        return Err(not_found());
    }
    let loans: Vec<_> = found
        .loans
        .iter()
        .filter(|l| l.outstanding_amount > 0)
        .map(|l| {
            json!({
                "loan_id": l.loan_id,
                "disbursement_date": l.disbursement_date,
                "outstanding_amount": l.outstanding_amount,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "response": {
            "customer_id": found.account.customer_id,
            "customer_name": found.account.customer_name,
            "customer_account": found.account.account_number,
            "customer_loans": loans,
        }}),
    ))
}

/// The body's `account_number`: up to 34 digits, or 400.
fn account_number(req: &Request) -> ApiResult<String> {
    let mut fields = Fields::from_request(req)?;
    let account_number = fields.required_str("account_number", 34);
    if !account_number.is_empty() && !account_number.bytes().all(|b| b.is_ascii_digit()) {
        fields.problem("account_number", "Must contain digits only.");
    }
    fields.finish()?;
    Ok(account_number)
}

/// Customers need approval; developers never see customer data; admins always may.
fn may_read_customer_data(user: &User) -> ApiResult<()> {
    match user.user_type {
        UserType::BankAdmin | UserType::FintractAdmin => Ok(()),
        UserType::Customer if user.admin_approved => Ok(()),
        UserType::Customer => Err(ApiError::forbidden(AWAITING_APPROVAL)),
        UserType::Developer | UserType::DeveloperAdmin => Err(ApiError::forbidden(
            "Developer accounts have no access to customer accounts.",
        )),
    }
}
