//! Concurrency on both backends: counters, registrations, uploads under many simultaneous requests.

use acceptance::{on_both_backends, Backend, TestApp};
use serde_json::json;

async fn unthrottled(backend: Backend) -> TestApp {
    TestApp::spawn_seeded_with(backend, |c| c.throttle_multiplier = 1000).await
}

async fn a_thousand_concurrent_requests_raise_the_counters_by_exactly_a_thousand(app: TestApp) {
    let body = json!({"refresh": "not-a-token"});
    let requests = (0..1000).map(|_| app.post_json("/token/refresh/", &body, None));
    let answers = futures::stream::iter(requests)
        .buffer_unordered(100)
        .collect::<Vec<_>>()
        .await;
    let statuses: std::collections::BTreeSet<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [401].into(), "every answer a 401");
    let counted = app.counted("token-refresh").await;
    let (negative, timed) = (counted.tally.negative, counted.latency.count());
    assert_eq!(negative, 1000);
    assert_eq!(timed, 1000, "every answer's duration is in the histogram");
}

async fn fifty_concurrent_registrations_of_one_email_make_one_user(app: TestApp) {
    let email = format!("{}@example.com", acceptance::unique("fifty"));
    let bodies: Vec<_> = (0..50)
        .map(|_| {
            let mut b = app.registration("CUSTOMER");
            b["email"] = json!(email);
            b
        })
        .collect();
    let answers = futures::future::join_all(bodies.iter().map(|b| app.register(b, None))).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == 400 && a.body["fields"]["email"].is_string())
        .count();
    assert_eq!((created, refused), (1, 49));
    assert!(app.ctx.store.user_by_email(&email).await.unwrap().is_some());
}

async fn a_retried_upload_with_an_idempotency_key_is_stored_once(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let token = app.access_of(&user).await;
    let send = |key: Option<&str>| {
        let part =
            reqwest::multipart::Part::bytes(shared::upload::samples::pdf()).file_name("a.pdf");
        let mut r = app
            .client
            .post(app.url("/auth/upload/"))
            .bearer_auth(&token);
        if let Some(k) = key {
            r = r.header("idempotency-key", k);
        }
        app.send(r.multipart(reqwest::multipart::Form::new().part("file", part)))
    };
    let (a, b) = futures::join!(send(Some("retry-1")), send(Some("retry-1")));
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(app.objects(&format!("uploads/{}/", user.id)).await.len(), 1);
    assert_eq!(send(Some("other")).await.status, 201);
    assert_eq!(app.objects(&format!("uploads/{}/", user.id)).await.len(), 2);
    assert_eq!(send(Some("bad key!")).await.status, 400);
}

use futures::StreamExt;

on_both_backends!(
    with unthrottled;
    a_thousand_concurrent_requests_raise_the_counters_by_exactly_a_thousand,
    fifty_concurrent_registrations_of_one_email_make_one_user,
    a_retried_upload_with_an_idempotency_key_is_stored_once,
);
