//! The DynamoDB adapter (single-table design of ARCHITECTURE.md §8).
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
//! | `DEVICE#<hash>` | `DEVICE` | a device the user signed in from |
//! | `SESSION#<family>` | `SESSION` | a login (family), as its user sees it |
//! | `VERIFY#<hash>` | `VERIFY` | an e-mail verification link |
//! | `THROTTLE#<key>#<window>` | `THROTTLE` | attempts in one throttling window |
//!
//! Index `gsi1`: `CUSTOMER#<id>` → the customer's accounts; `USERTOKENS#<id>` → the user's
//! refresh tokens, verification links and devices (so deletion can find them); `CLAIMANTS#<customer id>`
//! → the customer accounts claiming that id; `ROLE#<type>` → the staff accounts of a role.
//!
//! The counter table: pk `C#<hour>#<part>`, sk `<function>#<duration bucket>`, each hour's counts
//! spread over its parts; roll-ups under `ROLLUP` (see `counters`). Counts the counter table
//! refused are kept in the main table's `LOSSES` partition.
//!
//! This file holds the client and the item, request and error helpers every port shares; each
//! port's impl is in a file of its own, named after it (`users`, `accounts`, `tokens`,
//! `counters`, `otps`, `devices`, `verifications`, `throttles`), and `schema` defines the tables.

mod accounts;
mod counters;
pub use counters::{count_partition, LOSSES_PK};
mod devices;
mod keys;
pub use keys::PUBLISHED_KEYS_PK;
mod otps;
pub mod schema;
mod sessions;
mod throttles;
mod tokens;
mod users;
mod verifications;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use super::StoreError;

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

fn put(table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
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
