//! [`KeyStore`] on DynamoDB: the published token keys, one item (`KEYS` / `PUBLISHED`).

use std::collections::HashMap;

use async_trait::async_trait;

use super::{keyed, s, string, DynamoStore};
use crate::keys::KeySet;
use crate::store::{KeyStore, StoreError};

/// The partition of the published keys; every function's role denies writes to it (template.yaml).
pub const PUBLISHED_KEYS_PK: &str = "KEYS";

#[async_trait]
impl KeyStore for DynamoStore {
    async fn published_keys(&self) -> Result<Option<KeySet>, StoreError> {
        let Some(item) = self.get(PUBLISHED_KEYS_PK.into(), "PUBLISHED").await? else {
            return Ok(None);
        };
        KeySet::parse_public(&string(&item, "key_set")?)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn publish_keys(&self, set: &KeySet) -> Result<(), StoreError> {
        let public = set.public();
        self.put_item(keyed(
            PUBLISHED_KEYS_PK.into(),
            "PUBLISHED",
            HashMap::from([("key_set".to_string(), s(public.to_json()))]),
        ))
        .await
    }
}
