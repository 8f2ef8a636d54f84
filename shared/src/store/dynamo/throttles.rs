//! [`Throttles`] on DynamoDB: one item per key and window (`THROTTLE#<key>#<window>`) counting
//! its attempts, swept by the table's TTL once the window is over.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::{conditional, n, number, s, sdk_err, DynamoStore};
use crate::store::{StoreError, Throttles};

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

    async fn refund(&self, key: &str, window_start: i64) -> Result<(), StoreError> {
        // Only an existing window with hits in it: a refund never creates an item.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("THROTTLE#{key}#{window_start}")))
            .key("sk", s("THROTTLE"))
            .update_expression("ADD hits :minus_one")
            .condition_expression("hits > :zero")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        conditional(result, "UpdateItem").map(drop)
    }
}
