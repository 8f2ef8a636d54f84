//! The one error type of the API and its single mapping to a JSON response.

use std::collections::BTreeMap;
use std::fmt;

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

use crate::store::StoreError;

/// The fixed body of every 500 (ARCHITECTURE.md §4); the cause goes to the log only.
pub const INTERNAL_MESSAGE: &str = "Something went wrong. Please try again later.";

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An answer that is not a success: a status, a message for a person, and for 5xx a cause to log.
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    pub retry_after: Option<u64>,
    pub cause: Option<Cause>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after: None,
            cause: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// A 400 naming the fields that are wrong.
    pub fn invalid_fields(fields: BTreeMap<String, String>) -> Self {
        let mut e = Self::bad_request("The request has invalid fields.");
        e.fields = fields;
        e
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    /// The published answer to a missing, malformed, expired or revoked token.
    pub fn invalid_token() -> Self {
        Self::unauthorized("Invalid Auth Token.")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// A user the caller may not see, or that does not exist: the same answer (no existence leak).
    pub fn user_not_found() -> Self {
        Self::not_found("User not found.")
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts. Please wait and try again.",
        );
        e.retry_after = Some(retry_after);
        e
    }
    /// A failure of ours: the client sees the fixed 500 body, the log sees `cause`.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE);
        e.cause = Some(cause.into());
        e
    }
    /// A backend that asks us to slow down: 503 with `Retry-After`.
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is busy. Please try again shortly.",
        );
        e.retry_after = Some(1);
        e.cause = Some(cause.into());
        e
    }

    /// The JSON response a client sees. A 500 always carries exactly the fixed message.
    pub fn to_response(&self) -> Response<Body> {
        let mut body = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            json!({ "error": INTERNAL_MESSAGE })
        } else {
            json!({ "error": self.message })
        };
        if !self.fields.is_empty() {
            body["fields"] = json!(self.fields);
        }
        let mut response = crate::http::json(self.status, &body);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled(_) => ApiError::unavailable(e),
            _ => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn a_500_never_shows_its_cause() {
        let r = ApiError::internal("table fintract-main: connection refused").to_response();
        assert_eq!(r.status(), 500);
        assert_eq!(body(&r), json!({"error": INTERNAL_MESSAGE}));
    }

    #[test]
    fn field_errors_are_listed_under_fields() {
        let mut f = BTreeMap::new();
        f.insert(
            "account_number".to_string(),
            "This field is required.".to_string(),
        );
        let r = ApiError::invalid_fields(f).to_response();
        assert_eq!(r.status(), 400);
        assert_eq!(
            body(&r)["fields"]["account_number"],
            "This field is required."
        );
    }

    #[test]
    fn throttling_answers_503_with_retry_after() {
        let r = ApiError::from(StoreError::Throttled("slow down".into())).to_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
    }
}
