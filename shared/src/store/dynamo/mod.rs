//! The DynamoDB adapter (single-table design of DESIGN.md §8).
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `USER#<id>` | `PROFILE` | a user |
//! | `USERNAME#<key>`, `EMAIL#<key>` | `CLAIM` | uniqueness claims, written with the user |
//! | `CUSTOMERID#<id>` | `CLAIM` | binds a bank customer id to the one account approved for it |
//! | `SEQ` | `USER` | the user id sequence |
//! | `ACCOUNT#<n>` | `ACCOUNT` / `LOAN#<id>` | an account and its loans: one `Query` |
//! | `REFRESH#<jti>` | `REFRESH` | a refresh token |
//! | `FAMILY#<id>` | `FAMILY` | a revoked login family |
//! | `OTP#<user>` | `OTP` | the code of the user's latest login attempt |
//! | `VERIFY#<hash>` | `VERIFY` | an e-mail verification link |
//! | `THROTTLE#<key>#<window>` | `THROTTLE` | attempts in one throttling window |
//!
//! Index `gsi1`: `CUSTOMER#<id>` → the customer's accounts; `USERTOKENS#<id>` → the user's
//! refresh tokens and verification links (so deletion can find them); `CLAIMANTS#<customer id>`
//! → the customer accounts claiming that id; `ROLE#<type>` → the staff accounts of a role.
//!
//! The counter table: pk `D#<day>`, sk `<hour, 10 digits>#<function>#<shard>`, so the last 24
//! hours are two `Query`s (today's and yesterday's partitions), whatever the traffic.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update as UpdateOp,
};
use aws_sdk_dynamodb::Client;

use super::*;
use crate::model::{unique_key, UserType};

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB adapter of every data port.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    counter_table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, counter_table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            counter_table: counter_table.into(),
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem", e))?;
        Ok(out.item)
    }

    async fn user_by_claim(&self, claim_pk: String) -> Result<Option<User>, StoreError> {
        let Some(claim) = self.get(claim_pk, "CLAIM").await? else {
            return Ok(None);
        };
        let id = number(&claim, "user_id")?;
        self.user(id as u64).await
    }

    async fn put_item(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_err("PutItem", e))?;
        Ok(())
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn keyed(pk: String, sk: &str, mut item: Item) -> Item {
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    item
}

fn number(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} is not a number")))
}

fn string(item: &Item, name: &str) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} is not a string")))
}

fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Throttling becomes `Throttled` (503); anything else `Unavailable` (500), with the SDK's detail.
fn sdk_err<E, R>(operation: &str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("DynamoDB {operation}: {}", DisplayErrorContext(&e));
    match e.code() {
        Some(
            "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded",
        ) => StoreError::Throttled(detail),
        _ => StoreError::Unavailable(detail),
    }
}

impl DynamoStore {
    /// Runs one transaction: `None` when it committed; when it was cancelled, which of its items
    /// failed their condition (by position); an error for anything else.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<bool>>, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(e) => match cancellation_codes(&e) {
                Some(codes) => Ok(Some(
                    codes
                        .iter()
                        .map(|c| c == "ConditionalCheckFailed")
                        .collect(),
                )),
                None => Err(sdk_err("TransactWriteItems", e)),
            },
        }
    }
}

/// The cancellation reason codes of a failed transaction, or `None` if it failed otherwise.
fn cancellation_codes(
    e: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>,
) -> Option<Vec<String>> {
    match e.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(c) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_string())
                .collect(),
        ),
        _ => None,
    }
}

/// Every item a query matches, following `LastEvaluatedKey` page by page.
async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_err("Query", e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// A user's item: the profile, and in `gsi1` the group it is found in: the claimants of its
/// customer id (customers), or its role (everyone else; how the last Fintract admin is kept).
fn user_item(user: &User) -> Result<Item, StoreError> {
    let mut item = keyed(format!("USER#{}", user.id), "PROFILE", to_item(user)?);
    let group = match user.user_type {
        UserType::Customer => format!("CLAIMANTS#{}", user.customer_id),
        staff => format!("ROLE#{}", staff.as_str()),
    };
    item.insert("gsi1pk".into(), s(group));
    item.insert("gsi1sk".into(), s(format!("USER#{:020}", user.id)));
    Ok(item)
}

/// The item that binds a bank customer id to one account (written on approval).
fn customer_link(user: &User) -> Item {
    keyed(
        format!("CUSTOMERID#{}", user.customer_id),
        "CLAIM",
        HashMap::from([
            ("user_id".to_string(), n(user.id)),
            ("bound".to_string(), AttributeValue::Bool(true)),
        ]),
    )
}

/// A link may be written where there is none or where it is this user's. (Claim items of the
/// previous layout, written at registration, are settled by `migrate_users`.)
const LINK_FREE: &str = "attribute_not_exists(pk) OR user_id = :id";

fn put(table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The conditional write that binds `user`'s customer id to it.
fn link_put(table: &str, user: &User) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(customer_link(user)))
        .condition_expression(LINK_FREE)
        .expression_attribute_values(":id", n(user.id))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl DynamoStore {
    /// Writes a user item of the previous layout again with its `gsi1` group, as it was read.
    async fn reindex(&self, user: User) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(user_item(&user)?))
            .condition_expression("#rev = :rev")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":rev", n(user.rev))
            .send()
            .await;
        match result {
            // Written meanwhile: by the current code, with its group.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            other => other.map(|_| ()).map_err(|e| sdk_err("PutItem", e)),
        }
    }

    /// A customer-id claim of the previous layout, written at registration for every account:
    /// it stays (marked bound) only where it is an approved customer's link, else it goes.
    async fn settle_old_claim(&self, claim: Item) -> Result<(), StoreError> {
        let pk = string(&claim, "pk")?;
        let holder = self.user(number(&claim, "user_id")? as u64).await?;
        let binds = holder.is_some_and(|u| {
            u.holds_customer_link() && pk == format!("CUSTOMERID#{}", u.customer_id)
        });
        if binds {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s("CLAIM"))
                .update_expression("SET bound = :yes")
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .send()
                .await
                .map_err(|e| sdk_err("UpdateItem", e))?;
        } else {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s("CLAIM"))
                .condition_expression("attribute_not_exists(bound)")
                .send()
                .await;
            match deleted {
                // Bound meanwhile by the current code: it stays.
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                other => {
                    other.map_err(|e| sdk_err("DeleteItem", e))?;
                }
            }
        }
        Ok(())
    }

    /// The users of one `gsi1` group, by id.
    async fn users_in_group(&self, group: String) -> Result<Vec<User>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :user)")
            .expression_attribute_values(":pk", s(group))
            .expression_attribute_values(":user", s("USER#"));
        query_all(query).await?.into_iter().map(from_item).collect()
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_user(&self, new: NewUser) -> Result<Result<User, Taken>, StoreError> {
        let seq = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s("SEQ"))
            .key("sk", s("USER"))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem", e))?;
        let id = seq
            .attributes
            .as_ref()
            .map(|a| number(a, "value"))
            .transpose()?
            .unwrap_or(0) as u64;
        let user = new.into_user(id);
        let claim =
            |pk: String| keyed(pk, "CLAIM", HashMap::from([("user_id".to_string(), n(id))]));
        let absent = "attribute_not_exists(pk)";
        let mut items = vec![
            put(&self.table, user_item(&user)?, absent)?,
            put(
                &self.table,
                claim(format!("USERNAME#{}", unique_key(&user.username))),
                absent,
            )?,
            put(
                &self.table,
                claim(format!("EMAIL#{}", unique_key(&user.email))),
                absent,
            )?,
        ];
        if user.holds_customer_link() {
            items.push(link_put(&self.table, &user)?);
        }
        let Some(failed) = self.transact(items).await? else {
            return Ok(Ok(user));
        };
        if failed.get(1) == Some(&true) {
            Ok(Err(Taken::Username))
        } else if failed.get(2) == Some(&true) {
            Ok(Err(Taken::Email))
        } else if failed.get(3) == Some(&true) {
            Ok(Err(Taken::CustomerId))
        } else if failed.first() == Some(&true) {
            Err(StoreError::Unavailable(format!(
                "user id {id} already exists"
            )))
        } else {
            Err(StoreError::Unavailable("user transaction cancelled".into()))
        }
    }

    async fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        self.get(format!("USER#{id}"), "PROFILE")
            .await?
            .map(from_item)
            .transpose()
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_by_claim(format!("USERNAME#{}", unique_key(username)))
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.user_by_claim(format!("EMAIL#{}", unique_key(email)))
            .await
    }

    async fn user_by_customer_id(&self, customer_id: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .user_by_claim(format!("CUSTOMERID#{customer_id}"))
            .await?
            .filter(|u| u.holds_customer_link() && u.customer_id == customer_id))
    }

    async fn claimants(&self, customer_id: &str) -> Result<Vec<User>, StoreError> {
        self.users_in_group(format!("CLAIMANTS#{customer_id}"))
            .await
    }

    async fn staff_of_type(&self, user_type: UserType) -> Result<Vec<User>, StoreError> {
        self.users_in_group(format!("ROLE#{}", user_type.as_str()))
            .await
    }

    async fn update_user(&self, before: &User, after: &User) -> Result<Update, StoreError> {
        let mut next = after.clone();
        next.rev = before.rev + 1;
        let id = next.id;
        let write_user = Put::builder()
            .table_name(&self.table)
            .set_item(Some(user_item(&next)?))
            .condition_expression("#rev = :rev")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":rev", n(before.rev))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(write_user).build()];
        // Each moved claim: the new one must be free, the old one must still be ours.
        let mut moved = Vec::new();
        for (taken, prefix, old, new) in [
            (
                Taken::Username,
                "USERNAME",
                &before.username,
                &next.username,
            ),
            (Taken::Email, "EMAIL", &before.email, &next.email),
        ] {
            let (old, new) = (unique_key(old), unique_key(new));
            if old == new {
                continue;
            }
            let claim = keyed(
                format!("{prefix}#{new}"),
                "CLAIM",
                HashMap::from([("user_id".to_string(), n(id))]),
            );
            moved.push((items.len(), taken));
            items.push(put(&self.table, claim, "attribute_not_exists(pk)")?);
            let release = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(format!("{prefix}#{old}")))
                .key("sk", s("CLAIM"))
                .condition_expression("user_id = :id")
                .expression_attribute_values(":id", n(id))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            items.push(TransactWriteItem::builder().delete(release).build());
        }
        // The customer link follows approval (and the customer id it is for).
        let (old_link, new_link) = (
            before.holds_customer_link().then_some(&before.customer_id),
            next.holds_customer_link().then_some(&next.customer_id),
        );
        if old_link != new_link {
            if let Some(old) = old_link {
                let release = Delete::builder()
                    .table_name(&self.table)
                    .key("pk", s(format!("CUSTOMERID#{old}")))
                    .key("sk", s("CLAIM"))
                    .condition_expression("user_id = :id")
                    .expression_attribute_values(":id", n(id))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                items.push(TransactWriteItem::builder().delete(release).build());
            }
            if new_link.is_some() {
                moved.push((items.len(), Taken::CustomerId));
                items.push(link_put(&self.table, &next)?);
            }
        }
        let Some(failed) = self.transact(items).await? else {
            return Ok(Update::Done);
        };
        Ok(moved
            .iter()
            .find(|(i, _)| failed.get(*i) == Some(&true))
            .map(|(_, taken)| Update::Taken(*taken))
            .unwrap_or(Update::Stale))
    }

    async fn delete_user(&self, user: &User) -> Result<Update, StoreError> {
        let id = user.id;
        // Tokens and links first: if this fails half-way, the user is still there to retry with.
        let owned = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(format!("USERTOKENS#{id}")));
        for item in query_all(owned).await? {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(string(&item, "pk")?))
                .key("sk", s(string(&item, "sk")?))
                .send()
                .await
                .map_err(|e| sdk_err("DeleteItem", e))?;
        }
        let built = |d: aws_sdk_dynamodb::types::builders::DeleteBuilder| {
            d.build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let at = |pk: String, sk: &str| {
            Delete::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
        };
        // A claim only while it is still this user's (another account may hold it by now).
        let ours = |pk: String| {
            built(
                at(pk, "CLAIM")
                    .condition_expression("attribute_not_exists(pk) OR user_id = :id")
                    .expression_attribute_values(":id", n(id)),
            )
        };
        let mut items = vec![
            built(at(format!("OTP#{id}"), "OTP"))?,
            ours(format!("USERNAME#{}", unique_key(&user.username)))?,
            ours(format!("EMAIL#{}", unique_key(&user.email)))?,
            // Only as it was read: an approval or a verification meanwhile makes this Stale.
            built(
                at(format!("USER#{id}"), "PROFILE")
                    .condition_expression("#rev = :rev")
                    .expression_attribute_names("#rev", "rev")
                    .expression_attribute_values(":rev", n(user.rev)),
            )?,
        ];
        // A claim that was never approved binds nothing to release.
        if user.holds_customer_link() {
            items.push(ours(format!("CUSTOMERID#{}", user.customer_id))?);
        }
        Ok(match self.transact(items).await? {
            None => Update::Done,
            Some(_) => Update::Stale,
        })
    }

    async fn migrate_users(&self) -> Result<usize, StoreError> {
        let mut rewritten = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :profile OR (sk = :claim AND begins_with(pk, :link))")
                .expression_attribute_values(":profile", s("PROFILE"))
                .expression_attribute_values(":claim", s("CLAIM"))
                .expression_attribute_values(":link", s("CUSTOMERID#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("Scan", e))?;
            for item in page.items.unwrap_or_default() {
                if string(&item, "sk")? == "PROFILE" {
                    if !item.contains_key("gsi1pk") {
                        self.reindex(from_item(item)?).await?;
                        rewritten += 1;
                    }
                } else if !item.contains_key("bound") {
                    self.settle_old_claim(item).await?;
                    rewritten += 1;
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(rewritten);
            }
        }
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn put_account(&self, a: &Account) -> Result<(), StoreError> {
        let mut item = keyed(
            format!("ACCOUNT#{}", a.account_number),
            "ACCOUNT",
            to_item(a)?,
        );
        item.insert("gsi1pk".into(), s(format!("CUSTOMER#{}", a.customer_id)));
        item.insert("gsi1sk".into(), s(format!("ACCOUNT#{}", a.account_number)));
        self.put_item(item).await
    }

    async fn put_loan(&self, account_number: &str, loan: &Loan) -> Result<(), StoreError> {
        let item = keyed(
            format!("ACCOUNT#{account_number}"),
            &format!("LOAN#{}", loan.loan_id),
            to_item(loan)?,
        );
        self.put_item(item).await
    }

    async fn account_with_loans(
        &self,
        number: &str,
    ) -> Result<Option<AccountWithLoans>, StoreError> {
        let partition = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("ACCOUNT#{number}")))
            .consistent_read(true);
        let mut account = None;
        let mut loans = Vec::new();
        for item in query_all(partition).await? {
            let sk = string(&item, "sk")?;
            if sk == "ACCOUNT" {
                account = Some(from_item::<Account>(item)?);
            } else if sk.starts_with("LOAN#") {
                loans.push(from_item::<Loan>(item)?);
            }
        }
        Ok(account.map(|account| AccountWithLoans { account, loans }))
    }

    async fn accounts_of_customer(&self, customer_id: &str) -> Result<Vec<Account>, StoreError> {
        let index = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :prefix)")
            .expression_attribute_values(":pk", s(format!("CUSTOMER#{customer_id}")))
            .expression_attribute_values(":prefix", s("ACCOUNT#"));
        let mut accounts = query_all(index)
            .await?
            .into_iter()
            .map(from_item::<Account>)
            .collect::<Result<Vec<_>, _>>()?;
        accounts.sort_by(|a, b| a.account_number.cmp(&b.account_number));
        Ok(accounts)
    }
}

fn refresh_item(r: &RefreshRecord) -> Item {
    keyed(
        format!("REFRESH#{}", r.jti),
        "REFRESH",
        HashMap::from([
            ("user_id".to_string(), n(r.user_id)),
            ("family".to_string(), s(r.family.clone())),
            ("spent".to_string(), AttributeValue::Bool(false)),
            ("expires_at".to_string(), n(r.expires_at)),
            // DynamoDB's TTL sweeps dead tokens a while after they expire.
            ("ttl".to_string(), n(r.expires_at)),
            ("gsi1pk".to_string(), s(format!("USERTOKENS#{}", r.user_id))),
            ("gsi1sk".to_string(), s(format!("REFRESH#{}", r.jti))),
        ]),
    )
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn put_refresh(&self, r: &RefreshRecord) -> Result<(), StoreError> {
        self.put_item(refresh_item(r)).await
    }

    async fn rotate_refresh(
        &self,
        old_jti: &str,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let spend = UpdateOp::builder()
            .table_name(&self.table)
            .key("pk", s(format!("REFRESH#{old_jti}")))
            .key("sk", s("REFRESH"))
            .update_expression("SET #spent = :t")
            .condition_expression(
                "attribute_exists(pk) AND #spent = :f AND #user = :uid AND #family = :fam AND #exp > :now",
            )
            .expression_attribute_names("#spent", "spent")
            .expression_attribute_names("#user", "user_id")
            .expression_attribute_names("#family", "family")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":uid", n(new.user_id))
            .expression_attribute_values(":fam", s(new.family.clone()))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let family_live = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(format!("FAMILY#{}", new.family)))
            .key("sk", s("FAMILY"))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(spend).build(),
            put(&self.table, refresh_item(new), "attribute_not_exists(pk)")?,
            TransactWriteItem::builder()
                .condition_check(family_live)
                .build(),
        ];
        match self.transact(items).await? {
            None => Ok(Rotation::Rotated),
            Some(_) => {
                // Lost the condition: find out whether the token was spent (re-use) or never live.
                let Some(old) = self.get(format!("REFRESH#{old_jti}"), "REFRESH").await? else {
                    return Ok(Rotation::Unknown);
                };
                let same_login = number(&old, "user_id")? as u64 == new.user_id
                    && string(&old, "family")? == new.family
                    && number(&old, "expires_at")? > now;
                if !same_login {
                    return Ok(Rotation::Unknown);
                }
                self.put_item(keyed(
                    format!("FAMILY#{}", new.family),
                    "FAMILY",
                    HashMap::from([
                        ("revoked_at".to_string(), n(now)),
                        ("ttl".to_string(), n(number(&old, "expires_at")?)),
                    ]),
                ))
                .await?;
                Ok(Rotation::Reused)
            }
        }
    }
}

#[async_trait]
impl Counters for DynamoStore {
    async fn add(
        &self,
        function: &str,
        hour: i64,
        shard: u32,
        class: StatusClass,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.counter_table)
            .key("pk", s(format!("D#{}", hour.div_euclid(24))))
            .key("sk", s(format!("{hour:010}#{function}#{shard}")))
            .update_expression("ADD #c :one SET #f = :f, #h = :h")
            .expression_attribute_names("#c", class.attribute())
            .expression_attribute_names("#f", "function")
            .expression_attribute_names("#h", "hour")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":f", s(function))
            .expression_attribute_values(":h", n(hour))
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem", e))?;
        Ok(())
    }

    async fn read_hours(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<CounterRow>, StoreError> {
        if to_hour < from_hour {
            return Ok(Vec::new());
        }
        let days = from_hour.div_euclid(24)..=to_hour.div_euclid(24);
        let queries = days.map(|day| self.read_day(day, from_hour, to_hour));
        let per_day = futures::future::try_join_all(queries).await?;
        Ok(sum_rows(per_day.into_iter().flatten()))
    }

    /// A paginated `Scan` of the whole counter table, projected to the four attributes summed.
    /// Cost: the table holds one item per (hour, function, shard) that saw traffic, so at most
    /// 24 x functions x shards items a day (about 1,500 today, some 100 bytes each): a year
    /// of it is some 50 MB, about 6,500 read units (eventually consistent) per call. That is
    /// fine for an operator's page view; rolling closed days up into one item per function
    /// would bound it, if the dashboard were ever polled.
    async fn totals_by_function(&self) -> Result<BTreeMap<String, Tally>, StoreError> {
        let mut totals: BTreeMap<String, Tally> = BTreeMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.counter_table)
                .projection_expression("#f, #p, #n, #x")
                .expression_attribute_names("#f", "function")
                .expression_attribute_names("#p", StatusClass::Positive.attribute())
                .expression_attribute_names("#n", StatusClass::Negative.attribute())
                .expression_attribute_names("#x", StatusClass::Failed.attribute())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("Scan", e))?;
            for item in out.items.unwrap_or_default() {
                *totals.entry(string(&item, "function")?).or_default() += Tally {
                    positive: count(&item, StatusClass::Positive.attribute()),
                    negative: count(&item, StatusClass::Negative.attribute()),
                    failed: count(&item, StatusClass::Failed.attribute()),
                };
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(totals)
    }
}

/// A counter attribute: absent until its class is first counted on that item.
fn count(item: &Item, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl DynamoStore {
    /// The rows of one day partition whose hour lies in `from_hour..=to_hour`.
    async fn read_day(
        &self,
        day: i64,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<CounterRow>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.counter_table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(format!("D#{day}")))
                .expression_attribute_values(":from", s(format!("{from_hour:010}#")))
                .expression_attribute_values(":to", s(format!("{to_hour:010}#~")))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("Query", e))?;
            for item in out.items.unwrap_or_default() {
                rows.push(CounterRow {
                    function: string(&item, "function")?,
                    hour: number(&item, "hour")?,
                    positive: count(&item, "positive"),
                    negative: count(&item, "negative"),
                    failed: count(&item, "failed"),
                });
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(rows)
    }
}

#[async_trait]
impl OtpStore for DynamoStore {
    async fn put_otp(&self, o: &OtpRecord) -> Result<(), StoreError> {
        self.put_item(keyed(
            format!("OTP#{}", o.user_id),
            "OTP",
            HashMap::from([
                ("attempt_id".to_string(), s(o.attempt_id.clone())),
                ("code_hash".to_string(), s(o.code_hash.clone())),
                ("expires_at".to_string(), n(o.expires_at)),
                ("tries_left".to_string(), n(o.tries_left)),
                ("ttl".to_string(), n(o.expires_at)),
            ]),
        ))
        .await
    }

    async fn otp(&self, user_id: u64) -> Result<Option<OtpRecord>, StoreError> {
        let Some(item) = self.get(format!("OTP#{user_id}"), "OTP").await? else {
            return Ok(None);
        };
        Ok(Some(OtpRecord {
            user_id,
            attempt_id: string(&item, "attempt_id")?,
            code_hash: string(&item, "code_hash")?,
            expires_at: number(&item, "expires_at")?,
            tries_left: number(&item, "tries_left")?.max(0) as u32,
        }))
    }

    async fn take_otp(&self, user_id: u64, attempt_id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("OTP#{user_id}")))
            .key("sk", s("OTP"))
            .condition_expression("attempt_id = :a")
            .expression_attribute_values(":a", s(attempt_id))
            .send()
            .await;
        conditional(result, "DeleteItem")
    }

    async fn spend_otp_try(&self, user_id: u64, attempt_id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("OTP#{user_id}")))
            .key("sk", s("OTP"))
            .update_expression("SET tries_left = tries_left - :one")
            .condition_expression("attempt_id = :a AND tries_left > :zero")
            .expression_attribute_values(":a", s(attempt_id))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        conditional(result, "UpdateItem")
    }
}

/// A conditional write: `Ok(false)` when its condition failed, an error for anything else.
fn conditional<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    operation: &str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(sdk_err(operation, e)),
    }
}

#[async_trait]
impl VerificationStore for DynamoStore {
    async fn put_verification(&self, v: &Verification) -> Result<(), StoreError> {
        self.put_item(keyed(
            format!("VERIFY#{}", v.token_hash),
            "VERIFY",
            HashMap::from([
                ("user_id".to_string(), n(v.user_id)),
                ("email".to_string(), s(v.email.clone())),
                ("expires_at".to_string(), n(v.expires_at)),
                ("ttl".to_string(), n(v.expires_at)),
                ("gsi1pk".to_string(), s(format!("USERTOKENS#{}", v.user_id))),
                ("gsi1sk".to_string(), s(format!("VERIFY#{}", v.token_hash))),
            ]),
        ))
        .await
    }

    async fn take_verification(
        &self,
        token_hash: &str,
    ) -> Result<Option<Verification>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("VERIFY#{token_hash}")))
            .key("sk", s("VERIFY"))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_err("DeleteItem", e))?;
        let Some(item) = out.attributes.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(Verification {
            token_hash: token_hash.to_string(),
            user_id: number(&item, "user_id")? as u64,
            email: string(&item, "email")?,
            expires_at: number(&item, "expires_at")?,
        }))
    }
}

#[async_trait]
impl Throttles for DynamoStore {
    async fn hit(&self, key: &str, window_start: i64, window_secs: i64) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("THROTTLE#{key}#{window_start}")))
            .key("sk", s("THROTTLE"))
            .update_expression("ADD hits :one SET #ttl = :ttl")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(window_start + window_secs))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem", e))?;
        Ok(out
            .attributes
            .as_ref()
            .map(|a| number(a, "hits"))
            .transpose()?
            .unwrap_or(1) as u64)
    }
}
