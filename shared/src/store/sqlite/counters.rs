//! [`Counters`] on SQLite: the `counters` table, one row per hour, function and shard.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::store::{CounterRow, Counters, StatusClass, StoreError, Tally};

#[async_trait]
impl Counters for SqliteStore {
    async fn add(
        &self,
        function: &str,
        hour: i64,
        shard: u32,
        class: StatusClass,
    ) -> Result<(), StoreError> {
        let function = function.to_string();
        let column = class.attribute();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO counters (hour, function, shard, {column}) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (hour, function, shard) DO UPDATE SET {column} = {column} + 1"
            ))?
            .execute(params![hour, function, shard])
            .map(drop)
        })
        .await
    }

    async fn read_hours(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<CounterRow>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT function, hour, SUM(positive), SUM(negative), SUM(failed) FROM counters
                 WHERE hour BETWEEN ?1 AND ?2 GROUP BY function, hour ORDER BY function, hour",
            )?;
            let rows = stmt.query_map([from_hour, to_hour], |r| {
                Ok(CounterRow {
                    function: r.get(0)?,
                    hour: r.get(1)?,
                    positive: r.get::<_, i64>(2)? as u64,
                    negative: r.get::<_, i64>(3)? as u64,
                    failed: r.get::<_, i64>(4)? as u64,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn totals_by_function(&self) -> Result<BTreeMap<String, Tally>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT function, SUM(positive), SUM(negative), SUM(failed) FROM counters
                 GROUP BY function",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Tally {
                        positive: r.get::<_, i64>(1)? as u64,
                        negative: r.get::<_, i64>(2)? as u64,
                        failed: r.get::<_, i64>(3)? as u64,
                    },
                ))
            })?;
            rows.collect()
        })
        .await
    }
}
