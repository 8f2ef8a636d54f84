//! Lambda wiring only: build the context once per cold start, then serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(customer_claims::ROUTE).await
}
