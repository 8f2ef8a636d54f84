//! The contract every data adapter keeps, run against SQLite and DynamoDB alike: conditional
//! writes, uniqueness, atomic counters, not-found cases.

use acceptance::{on_both_backends, Backend, TestApp};
use shared::model::{Account, Loan, NewUser, UserType};
use shared::store::{
    DeviceRecord, OtpBudget, OtpKind, OtpRecord, RefreshRecord, Rotation, SessionRecord,
    StatusClass, Taken, Tally, Update,
};

fn new_user(username: &str, email: &str, customer_id: &str) -> NewUser {
    NewUser {
        username: username.into(),
        email: email.into(),
        name: "Contract Test".into(),
        phone: "+256700000009".into(),
        user_type: UserType::Developer,
        customer_id: customer_id.into(),
        gender: None,
        password_hash: "$argon2id$not-a-real-hash".into(),
        is_verified: true,
        admin_approved: false,
        created_at: 1,
    }
}

async fn users_get_increasing_ids_and_are_found_by_each_key(app: TestApp) {
    let s = &app.ctx.store;
    let a = s
        .create_user(new_user("Alice", "Alice@Example.com", "1001"))
        .await
        .unwrap()
        .unwrap();
    let b = s
        .create_user(new_user("bob", "bob@example.com", "1002"))
        .await
        .unwrap()
        .unwrap();
    assert!(b.id > a.id);
    assert_eq!(s.user(a.id).await.unwrap().unwrap(), a);
    assert_eq!(s.user_by_username("ALICE").await.unwrap().unwrap().id, a.id);
    assert_eq!(
        s.user_by_email("alice@example.COM")
            .await
            .unwrap()
            .unwrap()
            .id,
        a.id
    );
    assert!(s.user(999_999).await.unwrap().is_none());
    assert!(s.user_by_username("carol").await.unwrap().is_none());
    assert!(s
        .user_by_email("carol@example.com")
        .await
        .unwrap()
        .is_none());
}

/// An approved customer: the account its customer id is bound to.
fn bound_customer(username: &str, email: &str, customer_id: &str) -> NewUser {
    NewUser {
        user_type: UserType::Customer,
        admin_approved: true,
        ..new_user(username, email, customer_id)
    }
}

async fn a_taken_value_is_named_and_nothing_is_half_written(app: TestApp) {
    let s = &app.ctx.store;
    s.create_user(bound_customer("alice", "alice@example.com", "1001"))
        .await
        .unwrap()
        .unwrap();
    let taken = |u, e, c| s.create_user(bound_customer(u, e, c));
    assert_eq!(
        taken("ALICE", "other@example.com", "2001").await.unwrap(),
        Err(Taken::Username)
    );
    assert_eq!(
        taken("other", " alice@example.com ", "2002").await.unwrap(),
        Err(Taken::Email)
    );
    assert_eq!(
        taken("other", "other@example.com", "1001").await.unwrap(),
        Err(Taken::CustomerId)
    );
    // None of the refused attempts left a claim behind: the same values are free together.
    let ok = taken("other", "other@example.com", "2001").await.unwrap();
    assert!(ok.is_ok(), "{ok:?}");
}

/// A customer id is a claim until approval: any number of accounts may claim one, the store
/// finds them all, and approval binds it to one account only.
async fn customer_ids_are_claims_until_one_account_is_bound(app: TestApp) {
    let s = &app.ctx.store;
    let claim = |u: &str| NewUser {
        user_type: UserType::Customer,
        ..new_user(u, &format!("{u}@example.com"), "C777")
    };
    let first = s.create_user(claim("first")).await.unwrap().unwrap();
    let second = s.create_user(claim("second")).await.unwrap().unwrap();
    assert!(
        s.user_by_customer_id("C777").await.unwrap().is_none(),
        "nothing bound yet"
    );
    let ids: Vec<u64> = s
        .claimants("C777")
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, [first.id, second.id]);

    let approve = |u: &shared::model::User| shared::model::User {
        admin_approved: true,
        ..u.clone()
    };
    assert_eq!(
        s.update_user(&first, &approve(&first)).await.unwrap(),
        Update::Done
    );
    assert_eq!(
        s.update_user(&second, &approve(&second)).await.unwrap(),
        Update::Taken(Taken::CustomerId),
        "a second account bound to the same customer"
    );
    let bound = s.user_by_customer_id("C777").await.unwrap().unwrap();
    assert_eq!(bound.id, first.id);
    // The second claim moves away; deleting it releases nothing of the first's.
    let second = s.user(second.id).await.unwrap().unwrap();
    let moved = shared::model::User {
        customer_id: "C778".into(),
        ..second.clone()
    };
    assert_eq!(s.update_user(&second, &moved).await.unwrap(), Update::Done);
    assert_eq!(s.claimants("C777").await.unwrap().len(), 1);
    s.delete_user(&s.user(second.id).await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        s.user_by_customer_id("C777").await.unwrap().unwrap().id,
        first.id
    );
    // A deletion decided on a stale read deletes nothing (the account was approved meanwhile).
    let third = NewUser {
        customer_id: "C779".into(),
        ..claim("third")
    };
    let third = s.create_user(third).await.unwrap().unwrap();
    let read = s.user(third.id).await.unwrap().unwrap();
    s.update_user(&read, &approve(&read)).await.unwrap();
    assert_eq!(s.delete_user(&read).await.unwrap(), Update::Stale);
    assert!(s.user(third.id).await.unwrap().is_some());
    // Staff are found by role.
    let admin = s
        .create_user(NewUser {
            user_type: UserType::FintractAdmin,
            ..new_user("staff", "staff@example.com", "9001")
        })
        .await
        .unwrap()
        .unwrap();
    let staff = s.staff_of_type(UserType::FintractAdmin).await.unwrap();
    assert!(staff.iter().any(|u| u.id == admin.id));
    assert!(
        s.claimants("9001").await.unwrap().is_empty(),
        "staff claim no customer"
    );
}

async fn concurrent_registrations_of_one_email_have_one_winner(app: TestApp) {
    let s = &app.ctx.store;
    let attempts = (0..20).map(|i| {
        s.create_user(new_user(
            &format!("user{i}"),
            "same@example.com",
            &format!("30{i:02}"),
        ))
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(Taken::Email))))
        .count();
    assert_eq!((created, refused), (1, 19), "{results:?}");
}

async fn accounts_and_loans_are_read_together_and_puts_are_idempotent(app: TestApp) {
    let s = &app.ctx.store;
    let account = Account {
        account_number: "7000000001".into(),
        customer_id: "C900".into(),
        customer_name: "Contract Customer".into(),
        balance: 10,
        currency: "UGX".into(),
    };
    let loan = Loan {
        loan_id: "L900001".into(),
        disbursement_date: "2024-01-01T00:00:00Z".into(),
        principal: 100,
        outstanding_amount: 40,
    };
    for _ in 0..2 {
        s.put_account(&account).await.unwrap();
        s.put_loan(&account.account_number, &loan).await.unwrap();
    }
    let found = s.account_with_loans("7000000001").await.unwrap().unwrap();
    assert_eq!(found.account, account);
    assert_eq!(found.loans, vec![loan]);
    assert!(s.account_with_loans("7000000002").await.unwrap().is_none());
    let second = Account {
        account_number: "7000000000".into(),
        ..account.clone()
    };
    s.put_account(&second).await.unwrap();
    let numbers: Vec<_> = s
        .accounts_of_customer("C900")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account_number)
        .collect();
    assert_eq!(numbers, ["7000000000", "7000000001"]);
    assert!(s.accounts_of_customer("C901").await.unwrap().is_empty());
}

async fn refresh_rotation_is_conditional_and_detects_reuse(app: TestApp) {
    let s = &app.ctx.store;
    let record = |jti: &str, family: &str| RefreshRecord {
        jti: jti.into(),
        user_id: 5,
        family: family.into(),
        expires_at: shared::now() + 600,
    };
    s.put_refresh(&record("r1", "fam")).await.unwrap();
    assert_eq!(
        s.rotate_refresh("r1", &record("r2", "fam"), shared::now())
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        s.rotate_refresh("nope", &record("r9", "fam"), shared::now())
            .await
            .unwrap(),
        Rotation::Unknown
    );
    assert_eq!(
        s.rotate_refresh("r2", &record("r3", "other-family"), shared::now())
            .await
            .unwrap(),
        Rotation::Unknown
    );
    // r1 is spent: presenting it again revokes the family, so r2 is dead too.
    assert_eq!(
        s.rotate_refresh("r1", &record("r4", "fam"), shared::now())
            .await
            .unwrap(),
        Rotation::Reused
    );
    assert_eq!(
        s.rotate_refresh("r2", &record("r5", "fam"), shared::now())
            .await
            .unwrap(),
        Rotation::Reused
    );
    // An expired record cannot be rotated.
    let expired = RefreshRecord {
        expires_at: shared::now() - 1,
        ..record("old", "fam2")
    };
    s.put_refresh(&expired).await.unwrap();
    assert_eq!(
        s.rotate_refresh("old", &record("new", "fam2"), shared::now())
            .await
            .unwrap(),
        Rotation::Unknown
    );
}

async fn concurrent_counter_adds_are_never_lost(app: TestApp) {
    let s = &app.ctx.store;
    let adds = (0..60u32).map(|i| {
        let class = [
            StatusClass::Positive,
            StatusClass::Negative,
            StatusClass::Failed,
        ][(i % 3) as usize];
        s.add("contract", 100, i % 4, (i % 5) as u16 * 20, class)
    });
    for r in futures::future::join_all(adds).await {
        r.unwrap();
    }
    s.add("contract", 99, 0, 7, StatusClass::Positive)
        .await
        .unwrap();
    let hour = s.read_hour(100, 4).await.unwrap();
    assert_eq!(hour.len(), 1, "{hour:?}");
    let figures = &hour["contract"];
    assert_eq!(figures.tally, tally(20, 20, 20));
    assert_eq!(figures.latency.count(), 60);
    assert_eq!(
        figures.latency.buckets().collect::<Vec<_>>(),
        [(0, 12), (20, 12), (40, 12), (60, 12), (80, 12)]
    );
    // Each part is a partition of its own: reading two of four finds half.
    assert_eq!(
        s.read_hour(100, 2).await.unwrap()["contract"]
            .tally
            .requests(),
        30
    );
    assert!(s.read_hour(101, 4).await.unwrap().is_empty());
    assert_eq!(
        s.read_hour(99, 1).await.unwrap()["contract"].tally,
        tally(1, 0, 0)
    );
}

fn tally(positive: u64, negative: u64, failed: u64) -> Tally {
    Tally {
        positive,
        negative,
        failed,
    }
}

/// Writes a counter of the layout before parts and durations, as the deployed code did.
async fn old_layout_count(app: &TestApp, function: &str, hour: i64, shard: u32, positive: u64) {
    match app.backend {
        Backend::Embedded => {
            let path = match &app.ctx.config.backend {
                shared::config::Backend::Embedded { database_path } => database_path.clone(),
                shared::config::Backend::Aws => unreachable!(),
            };
            rusqlite::Connection::open(path)
                .unwrap()
                .execute(
                    "INSERT INTO counters (hour, function, shard, positive) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![hour, function, shard, positive],
                )
                .unwrap();
        }
        Backend::Aws | Backend::AwsIam => {
            use aws_sdk_dynamodb::types::AttributeValue::{N, S};
            let sdk = acceptance::admin_sdk(app.backend).await;
            let (_, counters) = app.tables.clone().unwrap();
            aws_sdk_dynamodb::Client::new(&sdk)
                .put_item()
                .table_name(counters)
                .item("pk", S(format!("D#{}", hour.div_euclid(24))))
                .item("sk", S(format!("{hour:010}#{function}#{shard}")))
                .item("function", S(function.into()))
                .item("hour", N(hour.to_string()))
                .item("positive", N(positive.to_string()))
                .send()
                .await
                .unwrap();
        }
    }
}

async fn counters_of_the_old_layout_are_read_with_the_new(app: TestApp) {
    let s = &app.ctx.store;
    assert!(s.sum_through(i64::MAX / 2).await.unwrap().is_empty());
    // Hours 95 and 96 lie in different day partitions of the old layout.
    old_layout_count(&app, "token", 95, 0, 5).await;
    old_layout_count(&app, "token", 95, 3, 2).await;
    old_layout_count(&app, "token", 96, 1, 1).await;
    s.add("token", 96, 1, 30, StatusClass::Negative)
        .await
        .unwrap();
    s.add("loans", 2_000, 0, 30, StatusClass::Failed)
        .await
        .unwrap();

    let h95 = s.read_hour(95, 1).await.unwrap();
    assert_eq!(h95["token"].tally, tally(7, 0, 0));
    assert_eq!(
        h95["token"].latency.count(),
        0,
        "the old layout kept no durations"
    );
    let h96 = s.read_hour(96, 2).await.unwrap();
    assert_eq!(h96["token"].tally, tally(1, 1, 0));
    assert_eq!(h96["token"].latency.count(), 1);

    let through = s.sum_through(96).await.unwrap();
    assert_eq!(through.len(), 1, "{through:?}");
    assert_eq!(through["token"].tally, tally(8, 1, 0));
    let all = s.sum_through(i64::MAX / 2).await.unwrap();
    assert_eq!(all["loans"].tally, tally(0, 0, 1));
}

async fn roll_ups_are_written_once_and_the_all_time_one_moves_only_forward(app: TestApp) {
    let s = &app.ctx.store;
    let figures = |n: u64| {
        let mut f = shared::store::Figures::default();
        f.add(Some(12), tally(n, 0, 0));
        std::collections::BTreeMap::from([("token".to_string(), f)])
    };
    let none = s.rollups(0, 1_000).await.unwrap();
    assert!(none.hours.is_empty() && none.all_time.is_none() && none.parts == 0);
    s.put_rollup(500, &figures(3)).await.unwrap();
    s.put_rollup(500, &figures(99)).await.unwrap(); // a second reader's: the first is kept
    s.put_rollup(480, &figures(1)).await.unwrap();
    s.put_rollup(515, &figures(4)).await.unwrap(); // past the range asked for
    let read = s.rollups(490, 510).await.unwrap();
    assert_eq!(read.hours.keys().collect::<Vec<_>>(), [&500]);
    assert_eq!(read.hours[&500], figures(3));
    let older = s.hour_rollups(470, 505).await.unwrap();
    assert_eq!(older.keys().collect::<Vec<_>>(), [&480, &500]);
    assert!(s.hour_rollups(600, 599).await.unwrap().is_empty());

    let at = |through_hour, n| shared::store::AllTime {
        through_hour,
        functions: figures(n),
    };
    assert!(s.advance_all_time(None, &at(499, 10)).await.unwrap());
    assert!(
        !s.advance_all_time(None, &at(499, 11)).await.unwrap(),
        "there is one already"
    );
    assert!(
        !s.advance_all_time(Some(400), &at(505, 12)).await.unwrap(),
        "not where it stands"
    );
    assert!(s.advance_all_time(Some(499), &at(500, 13)).await.unwrap());
    // The most parts noted is kept: a lower note never lowers it.
    s.note_parts(6).await.unwrap();
    s.note_parts(3).await.unwrap();
    let read = s.rollups(490, 510).await.unwrap();
    assert_eq!(read.all_time, Some(at(500, 13)));
    assert_eq!(read.hours.len(), 1);
    assert_eq!(read.parts, 6);
}

async fn lost_counts_are_kept_apart_per_hour(app: TestApp) {
    let s = &app.ctx.store;
    assert!(s.losses().await.unwrap().is_empty());
    for (hour, part) in [(700, 0), (700, 1), (700, 1), (702, 0)] {
        s.record_loss(hour, part).await.unwrap();
    }
    let losses = s.losses().await.unwrap();
    assert_eq!(
        losses,
        std::collections::BTreeMap::from([(700, 3), (702, 1)])
    );
    // Not counts: the counter figures do not move.
    assert!(s.read_hour(700, 2).await.unwrap().is_empty());
}

async fn a_codes_two_budgets_are_spent_apart_and_only_for_its_attempt(app: TestApp) {
    let s = &app.ctx.store;
    let otp = OtpRecord {
        user_id: 77,
        kind: OtpKind::SignIn,
        attempt_id: "a1".into(),
        code_hash: "h".into(),
        expires_at: i64::MAX / 2,
        tries_left: 2,
        open_tries_left: 1,
    };
    s.put_otp(&otp).await.unwrap();
    assert_eq!(s.otp(77, OtpKind::SignIn).await.unwrap(), Some(otp.clone()));
    // The other kind is an item of its own.
    assert_eq!(s.otp(77, OtpKind::Phone).await.unwrap(), None);
    let phone = OtpRecord {
        kind: OtpKind::Phone,
        attempt_id: "p1".into(),
        ..otp.clone()
    };
    s.put_otp(&phone).await.unwrap();
    assert!(!s.take_otp(77, OtpKind::Phone, "a1").await.unwrap());
    assert!(!s
        .spend_otp_try(77, OtpKind::SignIn, "p1", OtpBudget::Handle)
        .await
        .unwrap());
    assert!(!s
        .spend_otp_try(77, OtpKind::SignIn, "other", OtpBudget::Handle)
        .await
        .unwrap());
    assert!(s
        .spend_otp_try(77, OtpKind::SignIn, "a1", OtpBudget::Open)
        .await
        .unwrap());
    assert!(!s
        .spend_otp_try(77, OtpKind::SignIn, "a1", OtpBudget::Open)
        .await
        .unwrap());
    assert!(s
        .spend_otp_try(77, OtpKind::SignIn, "a1", OtpBudget::Handle)
        .await
        .unwrap());
    assert!(s
        .spend_otp_try(77, OtpKind::SignIn, "a1", OtpBudget::Handle)
        .await
        .unwrap());
    assert!(!s
        .spend_otp_try(77, OtpKind::SignIn, "a1", OtpBudget::Handle)
        .await
        .unwrap());
    let left = s.otp(77, OtpKind::SignIn).await.unwrap().unwrap();
    assert_eq!((left.tries_left, left.open_tries_left), (0, 0));
    assert!(!s
        .spend_otp_try(78, OtpKind::SignIn, "a1", OtpBudget::Open)
        .await
        .unwrap());
    assert!(s.take_otp(77, OtpKind::Phone, "p1").await.unwrap());
    assert!(s.otp(77, OtpKind::SignIn).await.unwrap().is_some());
}

async fn devices_are_found_by_hash_and_refunds_never_go_below_zero(app: TestApp) {
    let s = &app.ctx.store;
    let device = DeviceRecord {
        token_hash: "d".repeat(64),
        user_id: 5,
        created_at: 10,
        expires_at: 20,
    };
    s.put_device(&device).await.unwrap();
    assert_eq!(s.device(&device.token_hash).await.unwrap(), Some(device));
    assert_eq!(s.device(&"e".repeat(64)).await.unwrap(), None);

    assert_eq!(s.hit("k", 100, 60).await.unwrap(), 1);
    assert_eq!(s.hit("k", 100, 60).await.unwrap(), 2);
    s.refund("k", 100).await.unwrap();
    assert_eq!(s.hit("k", 100, 60).await.unwrap(), 2);
    for _ in 0..3 {
        s.refund("k", 100).await.unwrap();
    }
    assert_eq!(s.hit("k", 100, 60).await.unwrap(), 1, "never below zero");
    // A refund of a window nobody counted in creates nothing.
    s.refund("never", 100).await.unwrap();
    assert_eq!(s.hit("never", 100, 60).await.unwrap(), 1);
}

async fn sessions_are_listed_per_user_touched_and_ended_with_their_family(app: TestApp) {
    let s = &app.ctx.store;
    let session = |family: &str, user_id| SessionRecord {
        family: family.into(),
        user_id,
        token_version: 3,
        started_at: 100,
        refreshed_at: 100,
        ends_at: i64::MAX / 2,
        source_ip: "203.0.113.7".into(),
        user_agent: "Agent/1.0 (x)".into(),
        amr: vec!["pwd".into(), "otp".into()],
        aud: "fintract".into(),
    };
    let (a, b, other) = (session("fa", 41), session("fb", 41), session("fc", 42));
    for x in [&a, &b, &other] {
        s.put_session(x).await.unwrap();
    }
    assert_eq!(s.session("fa").await.unwrap(), Some(a.clone()));
    let mut mine = s.sessions_of(41).await.unwrap();
    mine.sort_by(|x, y| x.family.cmp(&y.family));
    assert_eq!(mine, [a.clone(), b.clone()]);
    assert!(s.touch_session("fb", 150, 10_000).await.unwrap());
    assert_eq!(s.session("fb").await.unwrap().unwrap().refreshed_at, 150);
    assert!(!s.touch_session("gone", 150, 10_000).await.unwrap());
    assert_eq!(
        s.session("gone").await.unwrap(),
        None,
        "a touch creates nothing"
    );

    // Ending one removes it and revokes its family: a rotation in it is re-use.
    let refresh = RefreshRecord {
        jti: "j1".into(),
        user_id: 41,
        family: "fa".into(),
        expires_at: i64::MAX / 2,
    };
    s.put_refresh(&refresh).await.unwrap();
    s.end_session("fa", 200, 10_000).await.unwrap();
    assert_eq!(s.session("fa").await.unwrap(), None);
    let left: Vec<_> = s
        .sessions_of(41)
        .await
        .unwrap()
        .into_iter()
        .map(|x| (x.family, x.refreshed_at))
        .collect();
    assert_eq!(left, [(b.family.clone(), 150)]);
    let next = RefreshRecord {
        jti: "j2".into(),
        ..refresh
    };
    assert_eq!(
        s.rotate_refresh("j1", &next, 300).await.unwrap(),
        Rotation::Reused
    );
    assert_eq!(s.sessions_of(42).await.unwrap(), [other]);
}

on_both_backends!(
    sessions_are_listed_per_user_touched_and_ended_with_their_family,
    a_codes_two_budgets_are_spent_apart_and_only_for_its_attempt,
    devices_are_found_by_hash_and_refunds_never_go_below_zero,
    users_get_increasing_ids_and_are_found_by_each_key,
    a_taken_value_is_named_and_nothing_is_half_written,
    customer_ids_are_claims_until_one_account_is_bound,
    concurrent_registrations_of_one_email_have_one_winner,
    accounts_and_loans_are_read_together_and_puts_are_idempotent,
    refresh_rotation_is_conditional_and_detects_reuse,
    concurrent_counter_adds_are_never_lost,
    counters_of_the_old_layout_are_read_with_the_new,
    roll_ups_are_written_once_and_the_all_time_one_moves_only_forward,
    lost_counts_are_kept_apart_per_hour,
);

/// Tables written by the previous layout (user items without their index group, customer-id
/// claims written at registration for everyone) are brought up to date by `migrate_users`.
mod previous_layout {
    mod aws {
        use acceptance::{Backend, TestApp};
        use aws_sdk_dynamodb::types::AttributeValue::{N, S};
        use shared::model::{NewUser, UserType};
        use shared::store::{Taken, Update};

        fn user(username: &str, user_type: UserType, customer_id: &str, approved: bool) -> NewUser {
            NewUser {
                user_type,
                admin_approved: approved,
                ..super::super::new_user(username, &format!("{username}@example.com"), customer_id)
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn migrate_users_indexes_old_items_and_settles_old_claims() {
            let app = TestApp::spawn_empty(Backend::Aws).await;
            let s = &app.ctx.store;
            let (main, _) = app.tables.clone().unwrap();
            let db = aws_sdk_dynamodb::Client::new(&acceptance::admin_sdk(Backend::Aws).await);
            let bound = s
                .create_user(user("bound", UserType::Customer, "C100", true))
                .await
                .unwrap()
                .unwrap();
            let pending = s
                .create_user(user("pending", UserType::Customer, "C200", false))
                .await
                .unwrap()
                .unwrap();
            let admin = s
                .create_user(user("admin", UserType::FintractAdmin, "9100", false))
                .await
                .unwrap()
                .unwrap();
            // Back to the previous layout.
            let strip = |pk: String, what: &'static str| {
                db.update_item()
                    .table_name(&main)
                    .key("pk", S(pk))
                    .key(
                        "sk",
                        S(if what == "bound" { "CLAIM" } else { "PROFILE" }.into()),
                    )
                    .update_expression(if what == "bound" {
                        "REMOVE bound"
                    } else {
                        "REMOVE gsi1pk, gsi1sk"
                    })
                    .send()
            };
            for id in [bound.id, pending.id, admin.id] {
                strip(format!("USER#{id}"), "index").await.unwrap();
            }
            strip("CUSTOMERID#C100".into(), "bound").await.unwrap();
            db.put_item()
                .table_name(&main)
                .item("pk", S("CUSTOMERID#C200".into()))
                .item("sk", S("CLAIM".into()))
                .item("user_id", N(pending.id.to_string()))
                .send()
                .await
                .unwrap();
            assert!(s.claimants("C200").await.unwrap().is_empty());
            assert!(s
                .staff_of_type(UserType::FintractAdmin)
                .await
                .unwrap()
                .is_empty());

            assert_eq!(s.migrate_users().await.unwrap().rewritten, 5);
            assert_eq!(
                s.migrate_users().await.unwrap().rewritten,
                0,
                "once is enough"
            );
            assert_eq!(s.claimants("C200").await.unwrap()[0].id, pending.id);
            assert_eq!(
                s.staff_of_type(UserType::FintractAdmin).await.unwrap()[0].id,
                admin.id
            );
            assert_eq!(
                s.user_by_customer_id("C100").await.unwrap().unwrap().id,
                bound.id
            );
            // The old claim bound nothing and is gone: the pending claim can now be approved.
            let read = s.user(pending.id).await.unwrap().unwrap();
            let approved = shared::model::User {
                admin_approved: true,
                ..read.clone()
            };
            assert_eq!(s.update_user(&read, &approved).await.unwrap(), Update::Done);
            // The settled link still binds its customer id to its one account.
            let rival = s
                .create_user(user("rival", UserType::Customer, "C100", false))
                .await
                .unwrap()
                .unwrap();
            let approved = shared::model::User {
                admin_approved: true,
                ..rival.clone()
            };
            assert_eq!(
                s.update_user(&rival, &approved).await.unwrap(),
                Update::Taken(Taken::CustomerId)
            );
        }
    }
}

/// In AWS each key comes from its own Secrets Manager secret at cold start.
mod keys_from_secrets {
    mod aws {
        use acceptance::{moto, test_config, Backend};
        use shared::config::{derived_signing_keys, Config};
        use shared::Ctx;

        async fn secret(value: &str) -> String {
            acceptance::signing_secret(&moto::sdk_config().await, value).await
        }

        fn keyless(dir: &std::path::Path) -> Config {
            let mut config = test_config(Backend::Aws, dir);
            config.signing_keys = None;
            config.otp_key = None;
            config.dashboard_key = None;
            config
        }

        #[tokio::test]
        async fn are_read_from_secrets_manager_when_named() {
            let dir = tempfile::tempdir().unwrap();
            let mut config = keyless(dir.path());
            let signing = derived_signing_keys(b"some secret of thirty-two bytes or more");
            config.signing_keys_arn = Some(secret(&signing.to_json()).await);
            config.otp_key_arn = Some(secret("an-otp-key-from-secrets-manager-40-bytes").await);
            config.dashboard_key_arn =
                Some(secret("a-dashboard-key-from-secrets-manager-40").await);
            let sdk = moto::sdk_config().await;
            let ctx = Ctx::aws_with_secret(config, &sdk).await.expect("context");
            assert_eq!(ctx.config.signing_keys, Some(signing));
            assert_eq!(
                ctx.config.otp_key.as_deref(),
                Some(b"an-otp-key-from-secrets-manager-40-bytes".as_slice())
            );
            assert_eq!(
                ctx.config.dashboard_key.as_deref(),
                Some(b"a-dashboard-key-from-secrets-manager-40".as_slice())
            );
        }

        #[tokio::test]
        async fn a_short_malformed_or_missing_secret_stops_the_cold_start() {
            let dir = tempfile::tempdir().unwrap();
            let sdk = moto::sdk_config().await;
            let mut config = keyless(dir.path());
            config.otp_key_arn = Some(secret("short").await);
            assert!(Ctx::aws_with_secret(config.clone(), &sdk).await.is_err());
            let mut config = keyless(dir.path());
            config.signing_keys_arn = Some(secret("not a key set").await);
            assert!(Ctx::aws_with_secret(config.clone(), &sdk).await.is_err());
            config.signing_keys_arn =
                Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope".into());
            assert!(Ctx::aws_with_secret(config.clone(), &sdk).await.is_err());
            // A function that holds no key starts with none.
            assert!(Ctx::aws_with_secret(keyless(dir.path()), &sdk)
                .await
                .is_ok());
        }
    }
}
