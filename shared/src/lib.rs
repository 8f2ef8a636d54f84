//! Everything the Lambda functions share, one module per concept (ARCHITECTURE.md §2):
//! configuration and the context, the one error type, request parsing and fields, tokens,
//! passwords and codes, roles, throttling, verification, the views of a user, blobs, uploads,
//! notifications, the storage ports with their DynamoDB and SQLite adapters, and the request
//! counting behind the dashboard.

pub mod alloc;
pub mod auth;
pub mod authenticator;
pub mod blob;
pub mod claims;
pub mod clock;
pub mod config;
pub mod context;
pub mod crypto;
pub mod error;
pub mod fields;
pub mod http;
pub mod jwt;
pub mod keys;
pub mod lambda;
pub mod latency;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod otp;
pub mod password;
pub mod roles;
pub mod route;
pub mod security;
pub mod sessions;
pub mod signin;
pub mod signing;
pub mod store;
pub mod strength;
pub mod throttle;
pub mod upload;
pub mod users;
pub mod utc;
pub mod validate;
pub mod verification;
pub mod views;

pub use ::http::Method;
pub use context::Ctx;
pub use error::{ApiError, ApiResult};
pub use lambda_http::{Body, Request, Response};
pub use route::Route;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
