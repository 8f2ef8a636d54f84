//! `POST /api/accounts/loans/`: the outstanding loans of an account, for its owner or an admin.

use serde_json::json;
use shared::http::{json, Fields, StatusCode};
use shared::model::{User, UserType};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

shared::route!("loans", POST, "/api/accounts/loans/", handle);

/// What a customer not yet approved by a Fintract admin is told (DESIGN.md §5).
pub const AWAITING_APPROVAL: &str = "Account awaiting admin approval.";

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let user = ctx.authenticate(&req).await?;
    let mut fields = Fields::from_request(&req)?;
    let account_number = fields.required_str("account_number", 34);
    if !account_number.is_empty() && !account_number.bytes().all(|b| b.is_ascii_digit()) {
        fields.problem("account_number", "Must contain digits only.");
    }
    fields.finish()?;
    may_read_customer_data(&user)?;

    let not_found = || ApiError::not_found("Account not found.");
    let found = ctx
        .store
        .account_with_loans(&account_number)
        .await?
        .ok_or_else(not_found)?;
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
