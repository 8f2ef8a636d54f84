//! The demo data `make run` seeds on first start (and the acceptance suite seeds on every backend):
//! the operator `admin`/`1234` of the DFCU document, James Blunt with his published loan, and a
//! few more customers to show paid-off loans, an account with none, and a customer awaiting
//! approval. Local only: no deployment ever gets these credentials.

use shared::model::{Account, Gender, Loan, NewUser, UserType};
use shared::password;
use shared::store::StoreError;
use shared::Ctx;

/// A demo login.
pub struct DemoUser {
    pub username: &'static str,
    pub password: &'static str,
    pub email: &'static str,
    pub name: &'static str,
    pub user_type: UserType,
    pub customer_id: &'static str,
    pub approved: bool,
}

/// The dashboard operator of the DFCU document (below the password policy: local demo only).
pub const ADMIN: DemoUser = DemoUser {
    username: "admin",
    password: "1234",
    email: "admin@fintract.local",
    name: "Demo Operator",
    user_type: UserType::FintractAdmin,
    customer_id: "9000000000000001",
    approved: true,
};
pub const BANK_ADMIN: DemoUser = DemoUser {
    username: "teller",
    password: "teller-demo-pass",
    email: "teller@dfcu.local",
    name: "Demo Teller",
    user_type: UserType::BankAdmin,
    customer_id: "9000000000000002",
    approved: true,
};
/// James Blunt, customer C003 of the DFCU document.
pub const JAMES: DemoUser = DemoUser {
    username: "jblunt",
    password: "james-demo-pass",
    email: "james.blunt@example.com",
    name: "James Blunt",
    user_type: UserType::Customer,
    customer_id: "C003",
    approved: true,
};
pub const SARAH: DemoUser = DemoUser {
    username: "snamuli",
    password: "sarah-demo-pass",
    email: "sarah.namuli@example.com",
    name: "Sarah Namuli",
    user_type: UserType::Customer,
    customer_id: "C004",
    approved: true,
};
pub const PETER: DemoUser = DemoUser {
    username: "pokello",
    password: "peter-demo-pass",
    email: "peter.okello@example.com",
    name: "Peter Okello",
    user_type: UserType::Customer,
    customer_id: "C005",
    approved: true,
};
/// A customer a Fintract admin has not approved yet.
pub const GRACE: DemoUser = DemoUser {
    username: "gakello",
    password: "grace-demo-pass",
    email: "grace.akello@example.com",
    name: "Grace Akello",
    user_type: UserType::Customer,
    customer_id: "C006",
    approved: false,
};
pub const DEVELOPER: DemoUser = DemoUser {
    username: "dev",
    password: "developer-demo-pass",
    email: "dev@example.com",
    name: "Demo Developer",
    user_type: UserType::Developer,
    customer_id: "9000000000000003",
    approved: false,
};

pub const USERS: [&DemoUser; 7] = [
    &ADMIN,
    &BANK_ADMIN,
    &JAMES,
    &SARAH,
    &PETER,
    &GRACE,
    &DEVELOPER,
];

/// James Blunt's account of the DFCU document.
pub const JAMES_ACCOUNT: &str = "5000145080";
pub const SARAH_ACCOUNT: &str = "5000145081";
/// An account with no loans at all.
pub const PETER_ACCOUNT: &str = "5000145082";
pub const GRACE_ACCOUNT: &str = "5000145083";

fn loan(id: &str, date: &str, principal: i64, outstanding: i64) -> Loan {
    Loan {
        loan_id: id.into(),
        disbursement_date: date.into(),
        principal,
        outstanding_amount: outstanding,
    }
}

/// Accounts with their loans.
pub fn accounts() -> Vec<(Account, Vec<Loan>)> {
    let account = |number: &str, user: &DemoUser, balance| Account {
        account_number: number.into(),
        customer_id: user.customer_id.into(),
        customer_name: user.name.into(),
        balance,
        currency: "UGX".into(),
    };
    vec![
        (
            account(JAMES_ACCOUNT, &JAMES, 1_250_000),
            vec![
                loan("L000004", "2022-05-03T09:15:00Z", 300_000, 0),
                loan("L000005", "2023-02-16T12:24:54Z", 1_000_000, 500_000),
            ],
        ),
        (
            account(SARAH_ACCOUNT, &SARAH, 3_400_000),
            vec![
                loan("L000006", "2023-06-01T08:00:00Z", 2_000_000, 1_200_000),
                loan("L000007", "2024-01-15T10:30:00Z", 400_000, 250_000),
            ],
        ),
        (account(PETER_ACCOUNT, &PETER, 90_000), vec![]),
        (
            account(GRACE_ACCOUNT, &GRACE, 510_000),
            vec![loan("L000008", "2024-03-20T14:00:00Z", 800_000, 800_000)],
        ),
    ]
}

/// Seeds the demo data unless the operator already exists. Returns whether it seeded.
pub async fn seed(ctx: &Ctx) -> Result<bool, StoreError> {
    if ctx.store.user_by_username(ADMIN.username).await?.is_some() {
        return Ok(false);
    }
    for (account, loans) in accounts() {
        ctx.store.put_account(&account).await?;
        for l in &loans {
            ctx.store.put_loan(&account.account_number, l).await?;
        }
    }
    for u in USERS {
        let password_hash = password::hash(u.password.to_string())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let created = ctx
            .store
            .create_user(NewUser {
                username: u.username.into(),
                email: u.email.into(),
                name: u.name.into(),
                phone: "+256700000000".into(),
                user_type: u.user_type,
                customer_id: u.customer_id.into(),
                gender: Some(Gender::Male).filter(|_| u.name.starts_with("James")),
                password_hash,
                is_verified: true,
                admin_approved: u.approved,
                created_at: ctx.now(),
            })
            .await?;
        if created.is_err() {
            tracing::warn!(
                username = u.username,
                "demo user already taken; left as it is"
            );
        }
    }
    Ok(true)
}
