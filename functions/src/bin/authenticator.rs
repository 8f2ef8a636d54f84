//! The `authenticator` Lambda function: build the context once per cold start, then serve its routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(functions::AUTHENTICATOR).await
}
