//! The benchmark's floor: a bare `lambda_runtime` function that echoes its event, built the same
//! way as the real functions. Their cold start is measured against this one's.

use lambda_http::lambda_runtime::{self, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
