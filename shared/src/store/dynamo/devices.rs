//! [`DeviceStore`] on DynamoDB: known device tokens (`DEVICE#<hash>`), also indexed in `gsi1`
//! under their user so that deleting the user finds them, and swept by the TTL once expired.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{keyed, n, number, s, DynamoStore};
use crate::store::{DeviceRecord, DeviceStore, StoreError};

#[async_trait]
impl DeviceStore for DynamoStore {
    async fn put_device(&self, d: &DeviceRecord) -> Result<(), StoreError> {
        self.put_item(keyed(
            format!("DEVICE#{}", d.token_hash),
            "DEVICE",
            HashMap::from([
                ("user_id".to_string(), n(d.user_id)),
                ("created_at".to_string(), n(d.created_at)),
                ("expires_at".to_string(), n(d.expires_at)),
                ("ttl".to_string(), n(d.expires_at)),
                ("gsi1pk".to_string(), s(format!("USERTOKENS#{}", d.user_id))),
                ("gsi1sk".to_string(), s(format!("DEVICE#{}", d.token_hash))),
            ]),
        ))
        .await
    }

    async fn device(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let Some(item) = self.get(format!("DEVICE#{token_hash}"), "DEVICE").await? else {
            return Ok(None);
        };
        Ok(Some(DeviceRecord {
            token_hash: token_hash.to_string(),
            user_id: number(&item, "user_id")?.max(0) as u64,
            created_at: number(&item, "created_at")?,
            expires_at: number(&item, "expires_at")?,
        }))
    }
}
