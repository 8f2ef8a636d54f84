//! [`TokenStore`] on DynamoDB: refresh tokens (`REFRESH#<jti>`), rotated in one transaction,
//! and the revoked login families (`FAMILY#<id>`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, TransactWriteItem, Update as UpdateOp,
};

use super::{keyed, n, number, put, s, string, DynamoStore, Item};
use crate::store::{RefreshRecord, Rotation, StoreError, TokenStore};

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
                // Lost the condition: find out whether the token was spent (re-use), its family
                // revoked, or it was never live; or the transaction merely conflicted.
                let Some(old) = self.get(format!("REFRESH#{old_jti}"), "REFRESH").await? else {
                    return Ok(Rotation::Unknown);
                };
                let same_login = number(&old, "user_id")? as u64 == new.user_id
                    && string(&old, "family")? == new.family
                    && number(&old, "expires_at")? > now;
                if !same_login {
                    return Ok(Rotation::Unknown);
                }
                let spent = matches!(old.get("spent"), Some(AttributeValue::Bool(true)));
                if !spent {
                    if self
                        .get(format!("FAMILY#{}", new.family), "FAMILY")
                        .await?
                        .is_some()
                    {
                        return Ok(Rotation::Reused);
                    }
                    // Neither spent nor revoked: a conflict with another write, not a re-use.
                    return Err(StoreError::Throttled(
                        "refresh rotation conflicted with another write".into(),
                    ));
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
