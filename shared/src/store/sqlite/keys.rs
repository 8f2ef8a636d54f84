//! [`KeyStore`] on SQLite: the published token keys, the one row of `published_keys`.

use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::SqliteStore;
use crate::keys::KeySet;
use crate::store::{KeyStore, StoreError};

#[async_trait]
impl KeyStore for SqliteStore {
    async fn published_keys(&self) -> Result<Option<KeySet>, StoreError> {
        let json: Option<String> = self
            .with(|c| {
                c.query_row("SELECT key_set FROM published_keys WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()
            })
            .await?;
        json.map(|j| KeySet::parse_public(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn publish_keys(&self, set: &KeySet) -> Result<(), StoreError> {
        let json = set.public().to_json();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO published_keys (id, key_set) VALUES (1, ?1)",
                [json],
            )
            .map(drop)
        })
        .await
    }
}
