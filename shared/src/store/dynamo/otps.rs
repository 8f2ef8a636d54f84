//! [`OtpStore`] on DynamoDB: a user's one-time codes, in the partition `OTP#<user>`, one item
//! per kind: `OTP` (the latest login attempt's) and `PHONE` (confirming the phone number).

use std::collections::HashMap;

use async_trait::async_trait;

use super::{conditional, keyed, n, number, s, string, DynamoStore};
use crate::store::{OtpBudget, OtpKind, OtpRecord, OtpStore, StoreError};

/// The sort key of a kind's item.
pub(super) fn sort_key(kind: OtpKind) -> &'static str {
    match kind {
        OtpKind::SignIn => "OTP",
        OtpKind::Phone => "PHONE",
    }
}

#[async_trait]
impl OtpStore for DynamoStore {
    async fn put_otp(&self, o: &OtpRecord) -> Result<(), StoreError> {
        self.put_item(keyed(
            format!("OTP#{}", o.user_id),
            sort_key(o.kind),
            HashMap::from([
                ("attempt_id".to_string(), s(o.attempt_id.clone())),
                ("code_hash".to_string(), s(o.code_hash.clone())),
                ("expires_at".to_string(), n(o.expires_at)),
                ("tries_left".to_string(), n(o.tries_left)),
                ("open_tries_left".to_string(), n(o.open_tries_left)),
                ("ttl".to_string(), n(o.expires_at)),
            ]),
        ))
        .await
    }

    async fn otp(&self, user_id: u64, kind: OtpKind) -> Result<Option<OtpRecord>, StoreError> {
        let Some(item) = self.get(format!("OTP#{user_id}"), sort_key(kind)).await? else {
            return Ok(None);
        };
        Ok(Some(OtpRecord {
            user_id,
            kind,
            attempt_id: string(&item, "attempt_id")?,
            code_hash: string(&item, "code_hash")?,
            expires_at: number(&item, "expires_at")?,
            tries_left: number(&item, "tries_left")?.max(0) as u32,
            // A code written before attempts had handles: its one budget is the open one.
            open_tries_left: match item.get("open_tries_left") {
                Some(_) => number(&item, "open_tries_left")?.max(0) as u32,
                None => number(&item, "tries_left")?.max(0) as u32,
            },
        }))
    }

    async fn take_otp(
        &self,
        user_id: u64,
        kind: OtpKind,
        attempt_id: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("OTP#{user_id}")))
            .key("sk", s(sort_key(kind)))
            .condition_expression("attempt_id = :a")
            .expression_attribute_values(":a", s(attempt_id))
            .send()
            .await;
        conditional(result, "DeleteItem")
    }

    async fn spend_otp_try(
        &self,
        user_id: u64,
        kind: OtpKind,
        attempt_id: &str,
        budget: OtpBudget,
    ) -> Result<bool, StoreError> {
        let counter = match budget {
            OtpBudget::Handle => "tries_left",
            OtpBudget::Open => "open_tries_left",
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("OTP#{user_id}")))
            .key("sk", s(sort_key(kind)))
            .update_expression("SET #c = #c - :one")
            .condition_expression("attempt_id = :a AND #c > :zero")
            .expression_attribute_names("#c", counter)
            .expression_attribute_values(":a", s(attempt_id))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        conditional(result, "UpdateItem")
    }
}
