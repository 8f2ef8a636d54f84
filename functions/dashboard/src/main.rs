//! Lambda wiring only: build the context once per cold start, then serve the dashboard's routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_routes(dashboard::ROUTES).await
}
