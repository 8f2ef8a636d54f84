//! Every request is counted once by status class (ARCHITECTURE.md §7), and a real backend failure
//! answers the fixed 500 body and counts as failed.

use acceptance::{demo, on_both_backends, Backend, TestApp};
use serde_json::json;

/// `function`'s counts of the last hour and this one, by class.
async fn counts(app: &TestApp, function: &str) -> (u64, u64, u64) {
    let t = app.counted(function).await.tally;
    (t.positive, t.negative, t.failed)
}

async fn each_request_is_counted_once_by_status_class(app: TestApp) {
    assert_eq!(counts(&app, "token").await, (0, 0, 0));
    for _ in 0..3 {
        assert_eq!(
            app.token(demo::ADMIN.username, demo::ADMIN.password)
                .await
                .status,
            200
        );
    }
    assert_eq!(app.token(demo::ADMIN.username, "wrong").await.status, 401);
    assert_eq!(app.post_json("/token/", &json!({}), None).await.status, 400);
    // Not an API function: a gateway 404 or 405 is not counted anywhere.
    assert_eq!(
        app.send(app.client.get(app.url("/token/"))).await.status,
        405
    );
    assert_eq!(
        app.send(app.client.get(app.url("/nowhere"))).await.status,
        404
    );
    assert_eq!(counts(&app, "token").await, (3, 2, 0));

    let access = app.access_token(&demo::JAMES).await;
    assert_eq!(
        app.loans(demo::JAMES_ACCOUNT, Some(&access)).await.status,
        200
    );
    assert_eq!(
        app.loans(demo::SARAH_ACCOUNT, Some(&access)).await.status,
        404
    );
    assert_eq!(counts(&app, "loans").await, (1, 1, 0));
    assert_eq!(counts(&app, "token").await, (4, 2, 0));
}

async fn concurrent_requests_are_all_counted(app: TestApp) {
    let body = json!({"refresh": "x"});
    let answers =
        futures::future::join_all((0..40).map(|_| app.post_json("/token/refresh/", &body, None)))
            .await;
    assert!(answers.iter().all(|a| a.status == 401));
    assert_eq!(counts(&app, "token-refresh").await, (0, 40, 0));
}

async fn a_broken_data_store_answers_the_fixed_500_and_counts_it_failed(app: TestApp) {
    let access = app.access_token(&demo::ADMIN).await;
    match app.backend {
        Backend::Embedded => {
            let conn = rusqlite_open(&app);
            conn.execute_batch("DROP TABLE loans").unwrap();
        }
        Backend::Aws | Backend::AwsIam => {
            let sdk = acceptance::admin_sdk(app.backend).await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            let (main, _) = app.tables.clone().unwrap();
            client.delete_table().table_name(main).send().await.unwrap();
        }
    }
    let a = app.loans(demo::JAMES_ACCOUNT, Some(&access)).await;
    assert_eq!(a.status, 500);
    assert_eq!(
        a.body,
        json!({"error": "Something went wrong. Please try again later."})
    );
    assert_eq!(counts(&app, "loans").await, (0, 0, 1));
}

fn rusqlite_open(app: &TestApp) -> rusqlite::Connection {
    let path = match &app.ctx.config.backend {
        shared::config::Backend::Embedded { database_path } => database_path.clone(),
        shared::config::Backend::Aws => unreachable!(),
    };
    rusqlite::Connection::open(path).unwrap()
}

on_both_backends!(
    each_request_is_counted_once_by_status_class,
    concurrent_requests_are_all_counted,
    a_broken_data_store_answers_the_fixed_500_and_counts_it_failed,
);
