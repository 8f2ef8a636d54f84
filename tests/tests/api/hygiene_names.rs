//! What people choose as a password and a username is held to a bank's standard (issue 17):
//! guessable passwords are refused with the reason, usernames are unique under Unicode
//! confusable skeletons (UTS #39) and may not mix scripts, and usernames claimed under the
//! previous keys (trimmed and lower-cased) move to skeleton keys without losing an account.

use acceptance::{demo, on_both_backends, Backend, TestApp};
use serde_json::{json, Value};
use shared::config::Backend as ConfigBackend;
use shared::model::{NewUser, User, UserType};
use shared::store::{Collision, Migration, Taken, Update};

/// `admin` with its first letter the Cyrillic а (U+0430): it looks the same.
const CYRILLIC_ADMIN: &str = "\u{430}dmin";

/// A registration body with `password` (twice).
fn with_password(app: &TestApp, password: &str) -> Value {
    let mut body = app.registration("CUSTOMER");
    body["password"] = json!(password);
    body["password2"] = json!(password);
    body
}

/// A registration body with `username`.
fn named(app: &TestApp, username: &str) -> Value {
    let mut body = app.registration("CUSTOMER");
    body["username"] = json!(username);
    body
}

/// The registration's refusal of the field `field`, asserting it is a 400.
async fn refusal(app: &TestApp, body: &Value, field: &str) -> String {
    let a = app.register(body, None).await;
    assert_eq!(a.status, 400, "{body}: {:?}", a.body);
    a.body["fields"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} problem: {:?}", a.body))
        .to_string()
}

async fn common_and_breached_passwords_are_refused_with_the_reason(app: TestApp) {
    for (password, why) in [
        ("12345678", "common password"),
        ("password1", "common"),
        ("ertyuiop[]", "rows of keys"),
    ] {
        let message = refusal(&app, &with_password(&app, password), "password").await;
        assert!(
            message.starts_with("This password is too easy to guess.") && message.contains(why),
            "{password}: {message}"
        );
    }
    // Built from the person's own username: weak for them, whatever it looks like to others.
    let mut own = app.registration("CUSTOMER");
    let username = own["username"].as_str().unwrap().to_string();
    own["password"] = json!(format!("{username}!"));
    own["password2"] = own["password"].clone();
    let message = refusal(&app, &own, "password").await;
    assert!(message.contains("username"), "{message}");
    // The length rule stays first, and says so.
    let message = refusal(&app, &with_password(&app, "Zq7#"), "password").await;
    assert_eq!(message, "Must be at least 8 characters.");
    // A password that is hard to guess is accepted, and signs in.
    let strong = with_password(&app, "velvet-mango-orbit-17");
    let user = app.register_verified(&strong, None).await;
    assert_eq!(app.sign_in(&user).await.status, 200);
}

async fn a_confusable_of_an_existing_username_is_refused_both_ways(app: TestApp) {
    // `admin` exists (the demo operator): its Cyrillic look-alike is refused.
    let message = refusal(&app, &named(&app, CYRILLIC_ADMIN), "username").await;
    assert!(!message.is_empty());
    // The same at the store, which no handler's own rule can stand in for.
    let s = &app.ctx.store;
    assert_eq!(
        s.create_user(new_user(CYRILLIC_ADMIN)).await.unwrap(),
        Err(Taken::Username)
    );
    // And the other way round: the Cyrillic one first, then the Latin one.
    s.create_user(new_user("\u{430}lice"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.create_user(new_user("alice")).await.unwrap(),
        Err(Taken::Username)
    );
    // Through the API with names of one script each: Cyrillic асе, then Latin ace and ACE.
    let first = app
        .register(&named(&app, "\u{430}\u{441}\u{435}"), None)
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    for latin in ["ace", "ACE", "\u{410}\u{421}\u{415}"] {
        assert_eq!(
            refusal(&app, &named(&app, latin), "username").await,
            "A user with that username already exists.",
            "{latin}"
        );
    }
    // UTS #39 holds l and 1 confusable: paypa1 is paypal.
    assert_eq!(app.register(&named(&app, "paypal"), None).await.status, 201);
    assert_eq!(
        refusal(&app, &named(&app, "paypa1"), "username").await,
        "A user with that username already exists."
    );
    // The holder still signs in with the name as typed.
    assert_eq!(app.token("admin", demo::ADMIN.password).await.status, 200);
}

async fn a_username_that_mixes_scripts_is_refused(app: TestApp) {
    let mixed = format!("p\u{430}y{}", acceptance::unique("x"));
    let message = refusal(&app, &named(&app, &mixed), "username").await;
    assert!(message.contains("script"), "{message}");
    // One script other than Latin is a name like any other.
    let cyrillic = app
        .register(&named(&app, "\u{438}\u{432}\u{430}\u{43d}77"), None)
        .await;
    assert_eq!(cyrillic.status, 201, "{:?}", cyrillic.body);
    // Nor can an account be renamed to one.
    let user = app.new_user("CUSTOMER").await;
    let token = app.access_of(&user).await;
    let a = app
        .call(
            "PUT",
            "/auth/user-update/",
            Some(&json!({"username": mixed, "name": "X"})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(a.body["fields"]["username"]
        .as_str()
        .unwrap()
        .contains("script"));
    let a = app
        .call(
            "PATCH",
            &format!("/auth/update/usr/{}/", user.id),
            Some(&json!({"username": mixed})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(a.body["fields"]["username"]
        .as_str()
        .unwrap()
        .contains("script"));
}

fn new_user(username: &str) -> NewUser {
    let email = format!("{}@example.com", acceptance::unique("names"));
    NewUser {
        username: username.into(),
        email,
        name: "Names Test".into(),
        phone: "+256700000077".into(),
        user_type: UserType::Developer,
        customer_id: acceptance::unique("9").replace('x', ""),
        gender: None,
        password_hash: "$argon2id$not-a-real-hash".into(),
        is_verified: true,
        admin_approved: false,
        created_at: 1,
    }
}

/// Puts user `id` back as the previous version stored it under the name `username`: its
/// username claim keyed by the trimmed, lower-cased name.
async fn as_the_previous_version_stored(app: &TestApp, id: u64, username: &str) {
    let old_key = username.trim().to_lowercase();
    match &app.ctx.config.backend {
        ConfigBackend::Embedded { database_path } => {
            let conn = rusqlite::Connection::open(database_path).unwrap();
            conn.execute(
                "UPDATE users SET username_key = ?1, data = json_set(data, '$.username', ?2)
                 WHERE id = ?3",
                rusqlite::params![old_key, username, id as i64],
            )
            .unwrap();
            // The previous version kept no record of its username keys.
            conn.execute_batch("DROP TABLE IF EXISTS migrations")
                .unwrap();
        }
        ConfigBackend::Aws => {
            use aws_sdk_dynamodb::types::AttributeValue::{N, S};
            let db = aws_sdk_dynamodb::Client::new(&acceptance::admin_sdk(app.backend).await);
            let (main, _) = app.tables.clone().unwrap();
            let claims = db
                .scan()
                .table_name(&main)
                .filter_expression("begins_with(pk, :u) AND user_id = :id")
                .expression_attribute_values(":u", S("USERNAME#".into()))
                .expression_attribute_values(":id", N(id.to_string()))
                .send()
                .await
                .unwrap();
            for claim in claims.items() {
                db.delete_item()
                    .table_name(&main)
                    .key("pk", claim["pk"].clone())
                    .key("sk", S("CLAIM".into()))
                    .send()
                    .await
                    .unwrap();
            }
            db.put_item()
                .table_name(&main)
                .item("pk", S(format!("USERNAME#{old_key}")))
                .item("sk", S("CLAIM".into()))
                .item("user_id", N(id.to_string()))
                .send()
                .await
                .unwrap();
            db.update_item()
                .table_name(&main)
                .key("pk", S(format!("USER#{id}")))
                .key("sk", S("PROFILE".into()))
                .update_expression("SET username = :name")
                .expression_attribute_values(":name", S(username.into()))
                .send()
                .await
                .unwrap();
        }
    }
}

async fn found(s: &dyn shared::store::DataStore, username: &str) -> u64 {
    s.user_by_username(username)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{username} is not found"))
        .id
}

async fn existing_username_claims_move_to_skeleton_keys(app: TestApp) {
    let s = app.ctx.store.as_ref();
    let created =
        |name: &'static str| async move { s.create_user(new_user(name)).await.unwrap().unwrap() };
    // Mallory's `m` has a skeleton of its own (`rn`); bob's name is its own skeleton; the twins
    // were registered as `аdmin` and `аdmіn` (Cyrillic а, Ukrainian і) before skeletons, beside
    // the demo operator `admin`.
    let (mallory, bob) = (created("M1").await, created("B1").await);
    let (twin, twin2) = (created("T1").await, created("T2").await);
    let admin = app.stored(&demo::ADMIN).await;
    let names = [
        (mallory.id, "Mallory"),
        (bob.id, "bob"),
        (admin.id, "admin"),
        (twin.id, CYRILLIC_ADMIN),
        (twin2.id, "\u{430}dm\u{456}n"),
    ];
    for (id, name) in names {
        as_the_previous_version_stored(&app, id, name).await;
    }
    // Before the migration everyone is found by their name, and each name stays taken.
    for (id, name) in names {
        assert_eq!(found(s, name).await, id, "{name} before the migration");
    }
    assert_eq!(
        s.create_user(new_user("MALLORY")).await.unwrap(),
        Err(Taken::Username)
    );

    if let ConfigBackend::Embedded { database_path } = &app.ctx.config.backend {
        // SQLite migrates the file itself when it opens it.
        let reopened = shared::store::sqlite::SqliteStore::open(
            database_path,
            std::time::Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(found(&reopened, "rnallory").await, mallory.id);
    }
    let first = s.migrate_users().await.unwrap();
    let again = s.migrate_users().await.unwrap();
    // The twin's name looks like the operator's: the older account (the operator) holds the
    // skeleton, the twin keeps its previous key, and the report says so, each time.
    let collisions: Vec<_> = names[3..]
        .iter()
        .map(|(id, name)| Collision {
            user_id: *id,
            username: name.to_string(),
            holder_id: admin.id,
            holder_username: "admin".into(),
        })
        .collect();
    assert_eq!(first.collisions, collisions);
    assert_eq!(
        again,
        Migration {
            rewritten: 0,
            collisions
        }
    );
    if app.backend != Backend::Embedded {
        // Mallory's and the operator's claims moved; bob's key was already its skeleton.
        assert_eq!(first.rewritten, 2);
    }

    // Afterwards: each is found by the name as typed, and a look-alike registration is refused.
    for (id, name) in names {
        assert_eq!(found(s, name).await, id, "{name} after the migration");
    }
    for confusable in ["rnallory", "MALLORY", "B\u{43e}B", "b\u{43e}b", "ADMIN"] {
        assert_eq!(
            s.create_user(new_user(confusable)).await.unwrap(),
            Err(Taken::Username),
            "{confusable}"
        );
    }
    let a = app.register(&named(&app, "rnallory"), None).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    // No colliding account is lost: each can be changed, renamed and deleted, and the operator
    // keeps the name throughout.
    let read = s.user(twin.id).await.unwrap().unwrap();
    let renamed = User {
        username: "twin-renamed".into(),
        ..read.clone()
    };
    assert_eq!(s.update_user(&read, &renamed).await.unwrap(), Update::Done);
    assert_eq!(found(s, "twin-renamed").await, twin.id);
    assert_eq!(
        found(s, CYRILLIC_ADMIN).await,
        admin.id,
        "the old claim went"
    );
    let read = s.user(twin2.id).await.unwrap().unwrap();
    let changed = User {
        name: "Second Twin".into(),
        ..read.clone()
    };
    assert_eq!(s.update_user(&read, &changed).await.unwrap(), Update::Done);
    assert_eq!(found(s, names[4].1).await, twin2.id);
    let read = s.user(twin2.id).await.unwrap().unwrap();
    assert_eq!(s.delete_user(&read).await.unwrap(), Update::Done);
    assert!(s.user(twin2.id).await.unwrap().is_none());
    assert_eq!(
        found(s, names[4].1).await,
        admin.id,
        "its claim went with it"
    );
    assert_eq!(found(s, "admin").await, admin.id);
    assert_eq!(app.token("admin", demo::ADMIN.password).await.status, 200);
}

on_both_backends!(
    common_and_breached_passwords_are_refused_with_the_reason,
    a_confusable_of_an_existing_username_is_refused_both_ways,
    a_username_that_mixes_scripts_is_refused,
    existing_username_claims_move_to_skeleton_keys,
);
