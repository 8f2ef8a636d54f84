//! [`SessionStore`] on DynamoDB: one item per login family (`SESSION#<family>`), indexed in
//! `gsi1` under its user (`USERTOKENS#<user>`, sort key `SESSION#<family>`) so that the user's
//! sessions are one `Query` and deleting the user finds them. Ending a session deletes its item
//! and revokes its family (`FAMILY#<family>`) in one transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::{conditional, keyed, n, number, query_all, s, string, DynamoStore, Item};
use crate::store::{SessionRecord, SessionStore, StoreError};

fn session_item(r: &SessionRecord) -> Item {
    keyed(
        format!("SESSION#{}", r.family),
        "SESSION",
        HashMap::from([
            ("user_id".to_string(), n(r.user_id)),
            ("token_version".to_string(), n(r.token_version)),
            ("started_at".to_string(), n(r.started_at)),
            ("refreshed_at".to_string(), n(r.refreshed_at)),
            ("ends_at".to_string(), n(r.ends_at)),
            ("source_ip".to_string(), s(r.source_ip.clone())),
            ("user_agent".to_string(), s(r.user_agent.clone())),
            ("amr".to_string(), s(r.amr.join(" "))),
            ("aud".to_string(), s(r.aud.clone())),
            ("ttl".to_string(), n(r.ends_at)),
            ("gsi1pk".to_string(), s(format!("USERTOKENS#{}", r.user_id))),
            ("gsi1sk".to_string(), s(format!("SESSION#{}", r.family))),
        ]),
    )
}

fn session_of(item: &Item) -> Result<SessionRecord, StoreError> {
    let family = string(item, "pk")?
        .strip_prefix("SESSION#")
        .unwrap_or_default()
        .to_string();
    Ok(SessionRecord {
        family,
        user_id: number(item, "user_id")?.max(0) as u64,
        token_version: number(item, "token_version")?.max(0) as u64,
        started_at: number(item, "started_at")?,
        refreshed_at: number(item, "refreshed_at")?,
        ends_at: number(item, "ends_at")?,
        source_ip: string(item, "source_ip")?,
        user_agent: string(item, "user_agent")?,
        amr: string(item, "amr")?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        aud: string(item, "aud")?,
    })
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn put_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.put_item(session_item(session)).await
    }

    async fn session(&self, family: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.get(format!("SESSION#{family}"), "SESSION")
            .await?
            .as_ref()
            .map(session_of)
            .transpose()
    }

    async fn sessions_of(&self, user_id: u64) -> Result<Vec<SessionRecord>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :session)")
            .expression_attribute_values(":pk", s(format!("USERTOKENS#{user_id}")))
            .expression_attribute_values(":session", s("SESSION#"));
        query_all(query).await?.iter().map(session_of).collect()
    }

    async fn touch_session(
        &self,
        family: &str,
        refreshed_at: i64,
        keep_until: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("SESSION#{family}")))
            .key("sk", s("SESSION"))
            .update_expression("SET refreshed_at = :at, #ttl = :ttl")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":at", n(refreshed_at))
            .expression_attribute_values(":ttl", n(keep_until))
            .send()
            .await;
        conditional(result, "UpdateItem")
    }

    async fn end_session(&self, family: &str, now: i64, keep_until: i64) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(format!("SESSION#{family}")))
            .key("sk", s("SESSION"))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let revoked = keyed(
            format!("FAMILY#{family}"),
            "FAMILY",
            HashMap::from([
                ("revoked_at".to_string(), n(now)),
                ("ttl".to_string(), n(keep_until)),
            ]),
        );
        let revoke = Put::builder()
            .table_name(&self.table)
            .set_item(Some(revoked))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().put(revoke).build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Unavailable(
                "ending a session: the transaction was cancelled".into(),
            )),
        }
    }
}
