//! [`Counters`] on SQLite: `counts` (one row per hour, part, counted name and duration bucket),
//! `count_rollups` and `count_all_time` (the roll-ups, as JSON), `count_parts`, `count_losses`, and the
//! `counters` of the layout before durations, read and never written.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::store::{
    AllTime, ByFunction, Counters, Rollups, StatusClass, StoreError, Tally, MAX_PARTS,
};

fn to_json(figures: &ByFunction) -> rusqlite::Result<String> {
    serde_json::to_string(figures).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

fn from_json(text: &str) -> rusqlite::Result<ByFunction> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn tally(r: &rusqlite::Row, first: usize) -> rusqlite::Result<Tally> {
    Ok(Tally {
        positive: r.get::<_, i64>(first)? as u64,
        negative: r.get::<_, i64>(first + 1)? as u64,
        failed: r.get::<_, i64>(first + 2)? as u64,
    })
}

/// Sums `(name, bucket, counts)` rows (bucket NULL: counted without a duration).
fn sum_rows(
    stmt: &mut rusqlite::Statement,
    args: impl rusqlite::Params,
) -> rusqlite::Result<ByFunction> {
    let mut figures = ByFunction::new();
    let mut rows = stmt.query(args)?;
    while let Some(r) = rows.next()? {
        let bucket = r
            .get::<_, Option<i64>>(1)?
            .map(|b| b.clamp(0, i64::from(u16::MAX)) as u16);
        figures
            .entry(r.get::<_, String>(0)?)
            .or_default()
            .add(bucket, tally(r, 2)?);
    }
    Ok(figures)
}

#[async_trait]
impl Counters for SqliteStore {
    async fn add(
        &self,
        name: &str,
        hour: i64,
        part: u32,
        bucket: u16,
        class: StatusClass,
    ) -> Result<(), StoreError> {
        let name = name.to_string();
        let column = class.attribute();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO counts (hour, part, name, bucket, {column}) VALUES (?1, ?2, ?3, ?4, 1)
                 ON CONFLICT (hour, part, name, bucket) DO UPDATE SET {column} = {column} + 1"
            ))?
            .execute(params![hour, part, name, bucket])
            .map(drop)
        })
        .await
    }

    async fn read_hour(&self, hour: i64, parts: u32) -> Result<ByFunction, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, bucket, SUM(positive), SUM(negative), SUM(failed) FROM counts
                 WHERE hour = ?1 AND part < ?2 GROUP BY name, bucket
                 UNION ALL
                 SELECT function, NULL, SUM(positive), SUM(negative), SUM(failed) FROM counters
                 WHERE hour = ?1 GROUP BY function",
            )?;
            sum_rows(&mut stmt, params![hour, parts.max(1)])
        })
        .await
    }

    async fn rollups(&self, from_hour: i64, to_hour: i64) -> Result<Rollups, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT hour, figures FROM count_rollups WHERE hour BETWEEN ?1 AND ?2",
            )?;
            let hours = stmt
                .query_map([from_hour, to_hour], |r| {
                    Ok((r.get::<_, i64>(0)?, from_json(&r.get::<_, String>(1)?)?))
                })?
                .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
            let all_time = c
                .prepare_cached("SELECT through_hour, figures FROM count_all_time")?
                .query_row([], |r| {
                    Ok(AllTime {
                        through_hour: r.get(0)?,
                        functions: from_json(&r.get::<_, String>(1)?)?,
                    })
                })
                .optional()?;
            let parts = c
                .prepare_cached("SELECT parts FROM count_parts")?
                .query_row([], |r| r.get::<_, i64>(0))
                .optional()?
                .map_or(0, |p| p.clamp(0, i64::from(MAX_PARTS)) as u32);
            Ok(Rollups {
                hours,
                all_time,
                parts,
            })
        })
        .await
    }

    async fn hour_rollups(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<BTreeMap<i64, ByFunction>, StoreError> {
        Ok(self.rollups(from_hour, to_hour).await?.hours)
    }

    async fn note_parts(&self, parts: u32) -> Result<(), StoreError> {
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO count_parts (id, parts) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET parts = MAX(parts, excluded.parts)",
            )?
            .execute([parts])
            .map(drop)
        })
        .await
    }

    async fn put_rollup(&self, hour: i64, figures: &ByFunction) -> Result<(), StoreError> {
        let figures = figures.clone();
        self.with(move |c| {
            c.prepare_cached("INSERT OR IGNORE INTO count_rollups (hour, figures) VALUES (?1, ?2)")?
                .execute(params![hour, to_json(&figures)?])
                .map(drop)
        })
        .await
    }

    async fn advance_all_time(
        &self,
        prev: Option<i64>,
        next: &AllTime,
    ) -> Result<bool, StoreError> {
        let next = next.clone();
        self.with(move |c| {
            let figures = to_json(&next.functions)?;
            let changed = match prev {
                None => c
                    .prepare_cached(
                        "INSERT OR IGNORE INTO count_all_time (id, through_hour, figures)
                         VALUES (1, ?1, ?2)",
                    )?
                    .execute(params![next.through_hour, figures])?,
                Some(prev) => c
                    .prepare_cached(
                        "UPDATE count_all_time SET through_hour = ?1, figures = ?2
                         WHERE id = 1 AND through_hour = ?3",
                    )?
                    .execute(params![next.through_hour, figures, prev])?,
            };
            Ok(changed == 1)
        })
        .await
    }

    async fn sum_through(&self, through_hour: i64) -> Result<ByFunction, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, bucket, SUM(positive), SUM(negative), SUM(failed) FROM counts
                 WHERE hour <= ?1 GROUP BY name, bucket
                 UNION ALL
                 SELECT function, NULL, SUM(positive), SUM(negative), SUM(failed) FROM counters
                 WHERE hour <= ?1 GROUP BY function",
            )?;
            sum_rows(&mut stmt, [through_hour])
        })
        .await
    }

    async fn record_loss(&self, hour: i64, _part: u32) -> Result<(), StoreError> {
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO count_losses (hour, lost) VALUES (?1, 1)
                 ON CONFLICT (hour) DO UPDATE SET lost = lost + 1",
            )?
            .execute([hour])
            .map(drop)
        })
        .await
    }

    async fn losses(&self) -> Result<BTreeMap<i64, u64>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT hour, lost FROM count_losses")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            rows.collect()
        })
        .await
    }
}
