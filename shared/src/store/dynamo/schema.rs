//! The DynamoDB tables, defined once: tests and `local`'s tooling create them from here, and a test
//! checks that `template.yaml` declares exactly these keys and indexes.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::store::StoreError;

/// A global secondary index (string keys, all attributes projected).
#[derive(Debug)]
pub struct IndexDef {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: Option<&'static str>,
}

/// A table: its logical id in `template.yaml`, string keys, indexes and TTL attribute.
#[derive(Debug)]
pub struct TableDef {
    pub logical_id: &'static str,
    pub hash: &'static str,
    pub range: Option<&'static str>,
    pub indexes: &'static [IndexDef],
    pub ttl_attribute: Option<&'static str>,
}

/// Users, claims, accounts with their loans, refresh tokens (ARCHITECTURE.md §8).
pub const MAIN_TABLE: TableDef = TableDef {
    logical_id: "MainTable",
    hash: "pk",
    range: Some("sk"),
    indexes: &[IndexDef {
        name: "gsi1",
        hash: "gsi1pk",
        range: Some("gsi1sk"),
    }],
    ttl_attribute: Some("ttl"),
};

/// Request counters: each hour's counts over its parts (pk `C#<hour>#<part>`, sk
/// `<function>#<duration bucket>`), the roll-ups (pk `ROLLUP`), and the earlier layout's day
/// partitions (pk `D#<day>`), read only (ARCHITECTURE.md §8).
pub const COUNTER_TABLE: TableDef = TableDef {
    logical_id: "CounterTable",
    hash: "pk",
    range: Some("sk"),
    indexes: &[],
    ttl_attribute: None,
};

impl TableDef {
    /// Every attribute that is a key of the table or of an index, each once, in order.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.hash];
        names.extend(self.range);
        for i in self.indexes {
            names.push(i.hash);
            names.extend(i.range);
        }
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(*n));
        names
    }

    /// Creates the table (on-demand) under `name`, with its TTL, as the template would.
    pub async fn create(&self, client: &Client, name: &str) -> Result<(), StoreError> {
        let key = |attr: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(attr)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let mut req = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(self.hash, KeyType::Hash)?);
        if let Some(r) = self.range {
            req = req.key_schema(key(r, KeyType::Range)?);
        }
        for attr in self.key_attributes() {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            );
        }
        for index in self.indexes {
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.hash, KeyType::Hash)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                );
            if let Some(r) = index.range {
                gsi = gsi.key_schema(key(r, KeyType::Range)?);
            }
            req = req.global_secondary_indexes(
                gsi.build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            );
        }
        req.send().await.map_err(|e| {
            StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
        if let Some(ttl) = self.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(ttl)
                        .enabled(true)
                        .build()
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| {
                    StoreError::Unavailable(
                        aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
        }
        Ok(())
    }
}
