//! [`Counters`] on DynamoDB (ARCHITECTURE.md §8).
//!
//! | table | pk | sk | item |
//! |---|---|---|---|
//! | counters | `C#<hour>#<part>` | `<counted name>#<bucket>` | `positive`, `negative`, `failed`: one `ADD` per answer |
//! | counters | `ROLLUP` | `<hour, 10 digits>` | `figures`: the hour, every counted name, as JSON |
//! | counters | `ROLLUP` | `ALL` | `figures`, `through_hour`: the all-time roll-up |
//! | counters | `ROLLUP` | `PARTS` | `parts`: the most parts a counting process has noted |
//! | counters | `D#<day>` | `<hour, 10 digits>#<function>#<shard>` | the layout before parts, read, never written |
//! | main | `LOSSES` | `<hour, 10 digits>#<part>` | `lost`: counts the counter table refused |
//!
//! A counted name is an endpoint's `<function> <METHOD> <path>` (the earlier layout's are bare
//! function names); it holds no `#`, so the bucket is what follows the last one.
//! An hour's answers spread over its parts, one partition each, so no partition takes more
//! writes than one part's share of the traffic. The last 24 roll-ups and the all-time one are
//! one `Query` of `ROLLUP` (`ALL` and `PARTS` sort after every hour).

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{conditional, n, number, query_all, s, sdk_err, string, DynamoStore, Item};
use crate::store::{
    merge_functions, AllTime, ByFunction, Counters, Rollups, StatusClass, StoreError, Tally,
    MAX_PARTS,
};

/// The partition of one part of one hour's counts.
pub fn count_partition(hour: i64, part: u32) -> String {
    format!("C#{hour}#{part}")
}

const ROLLUP_PK: &str = "ROLLUP";
const ALL_TIME_SK: &str = "ALL";
/// The most parts counting processes have noted (sorts after `ALL` and every hour).
const PARTS_SK: &str = "PARTS";
/// The main table's partition of lost counts.
pub const LOSSES_PK: &str = "LOSSES";

fn hour_sk(hour: i64) -> String {
    format!("{hour:010}")
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[async_trait]
impl Counters for DynamoStore {
    async fn add(
        &self,
        name: &str,
        hour: i64,
        part: u32,
        bucket: u16,
        class: StatusClass,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.counter_table)
            .key("pk", s(count_partition(hour, part)))
            .key("sk", s(format!("{name}#{bucket}")))
            .update_expression("ADD #c :one")
            .expression_attribute_names("#c", class.attribute())
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem", e))?;
        Ok(())
    }

    async fn read_hour(&self, hour: i64, parts: u32) -> Result<ByFunction, StoreError> {
        let queries = (0..parts.max(1)).map(|part| {
            query_all(
                self.client
                    .query()
                    .table_name(&self.counter_table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(count_partition(hour, part))),
            )
        });
        // At most 32 in flight: an hour of a high target rate has hundreds of parts.
        let parts = async {
            use futures::{StreamExt, TryStreamExt};
            futures::stream::iter(queries)
                .buffer_unordered(32)
                .try_collect::<Vec<_>>()
                .await
        };
        let (parts, legacy) = futures::future::try_join(parts, self.legacy_hour(hour)).await?;
        let mut figures = legacy;
        for item in parts.iter().flatten() {
            let sk = string(item, "sk")?;
            let (name, bucket) = sk
                .rsplit_once('#')
                .and_then(|(f, b)| Some((f, b.parse::<u16>().ok()?)))
                .ok_or_else(|| corrupt(format!("counter key {sk}")))?;
            figures
                .entry(name.to_string())
                .or_default()
                .add(Some(bucket), tally(item));
        }
        Ok(figures)
    }

    async fn rollups(&self, from_hour: i64, to_hour: i64) -> Result<Rollups, StoreError> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.counter_table)
                .key_condition_expression("pk = :pk AND sk >= :from")
                .expression_attribute_values(":pk", s(ROLLUP_PK))
                .expression_attribute_values(":from", s(hour_sk(from_hour))),
        )
        .await?;
        let mut rollups = Rollups::default();
        for item in items {
            let sk = string(&item, "sk")?;
            let figures = || -> Result<ByFunction, StoreError> {
                serde_json::from_str(&string(&item, "figures")?).map_err(corrupt)
            };
            match sk.as_str() {
                ALL_TIME_SK => {
                    rollups.all_time = Some(AllTime {
                        through_hour: number(&item, "through_hour")?,
                        functions: figures()?,
                    })
                }
                PARTS_SK => rollups.parts = parts_of(number(&item, "parts")?),
                // An hour: ten digits (a negative hour sorts before every window).
                _ => match sk.parse::<i64>() {
                    Ok(hour) if sk.len() == 10 && hour <= to_hour => {
                        rollups.hours.insert(hour, figures()?);
                    }
                    // A later hour, or an item of no roll-up: not this report's.
                    _ => {}
                },
            }
        }
        Ok(rollups)
    }

    async fn hour_rollups(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<BTreeMap<i64, ByFunction>, StoreError> {
        if to_hour < from_hour {
            return Ok(BTreeMap::new());
        }
        let items = query_all(
            self.client
                .query()
                .table_name(&self.counter_table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(ROLLUP_PK))
                .expression_attribute_values(":from", s(hour_sk(from_hour)))
                .expression_attribute_values(":to", s(hour_sk(to_hour))),
        )
        .await?;
        let mut hours = BTreeMap::new();
        for item in items {
            let sk = string(&item, "sk")?;
            if let Ok(hour) = sk.parse::<i64>() {
                let figures = serde_json::from_str(&string(&item, "figures")?).map_err(corrupt)?;
                hours.insert(hour, figures);
            }
        }
        Ok(hours)
    }

    async fn note_parts(&self, parts: u32) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.counter_table)
            .key("pk", s(ROLLUP_PK))
            .key("sk", s(PARTS_SK))
            .update_expression("SET parts = :p")
            .condition_expression("attribute_not_exists(parts) OR parts < :p")
            .expression_attribute_values(":p", n(parts))
            .send()
            .await;
        // Refused: as many or more were noted already.
        conditional(update, "UpdateItem").map(drop)
    }

    async fn put_rollup(&self, hour: i64, figures: &ByFunction) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.counter_table)
            .item("pk", s(ROLLUP_PK))
            .item("sk", s(hour_sk(hour)))
            .item("hour", n(hour))
            .item(
                "figures",
                s(serde_json::to_string(figures).map_err(corrupt)?),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // One already there was made from the same closed hour.
        conditional(put, "PutItem").map(drop)
    }

    async fn advance_all_time(
        &self,
        prev: Option<i64>,
        next: &AllTime,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.counter_table)
            .item("pk", s(ROLLUP_PK))
            .item("sk", s(ALL_TIME_SK))
            .item("through_hour", n(next.through_hour))
            .item(
                "figures",
                s(serde_json::to_string(&next.functions).map_err(corrupt)?),
            );
        let put = match prev {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(prev) => put
                .condition_expression("through_hour = :prev")
                .expression_attribute_values(":prev", n(prev)),
        };
        conditional(put.send().await, "PutItem")
    }

    /// A `Scan` of the whole counter table in [`SCAN_SEGMENTS`] parallel segments, projected to
    /// what is summed. Once ever: it starts the all-time roll-up. Cost: the table's size once
    /// (a year of the earlier layout is some 90 MB: 11,000 read units, a few seconds).
    async fn sum_through(&self, through_hour: i64) -> Result<ByFunction, StoreError> {
        let segments = (0..SCAN_SEGMENTS).map(|segment| self.scan_segment(segment, through_hour));
        let mut figures = ByFunction::new();
        for part in futures::future::try_join_all(segments).await? {
            merge_functions(&mut figures, &part);
        }
        Ok(figures)
    }

    async fn record_loss(&self, hour: i64, part: u32) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(LOSSES_PK))
            .key("sk", s(format!("{}#{part}", hour_sk(hour))))
            .update_expression("ADD lost :one SET #h = :h")
            .expression_attribute_names("#h", "hour")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":h", n(hour))
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem", e))?;
        Ok(())
    }

    async fn losses(&self) -> Result<BTreeMap<i64, u64>, StoreError> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(LOSSES_PK)),
        )
        .await?;
        let mut losses = BTreeMap::new();
        for item in items {
            *losses.entry(number(&item, "hour")?).or_default() += count(&item, "lost");
        }
        Ok(losses)
    }
}

/// The hour, counted name and bucket of a counted item, in either layout; `None` for a roll-up.
fn counted_key(item: &Item) -> Result<Option<(i64, String, Option<u16>)>, StoreError> {
    let (pk, sk) = (string(item, "pk")?, string(item, "sk")?);
    if let Some(rest) = pk.strip_prefix("C#") {
        let hour = rest.split('#').next().and_then(|h| h.parse().ok());
        let key = sk
            .rsplit_once('#')
            .and_then(|(f, b)| Some((f.to_string(), b.parse::<u16>().ok()?)));
        return match (hour, key) {
            (Some(hour), Some((name, bucket))) => Ok(Some((hour, name, Some(bucket)))),
            _ => Err(corrupt(format!("counter key {pk} {sk}"))),
        };
    }
    if pk.starts_with("D#") {
        return Ok(Some((
            number(item, "hour")?,
            string(item, "function")?,
            None,
        )));
    }
    Ok(None)
}

/// A counter attribute: absent until its class is first counted on that item.
fn count(item: &Item, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// An item's counts, by status class.
fn tally(item: &Item) -> Tally {
    Tally {
        positive: count(item, StatusClass::Positive.attribute()),
        negative: count(item, StatusClass::Negative.attribute()),
        failed: count(item, StatusClass::Failed.attribute()),
    }
}

/// How many segments the one-time `Scan` reads at once.
const SCAN_SEGMENTS: i32 = 8;

/// A stored part count, held to what a report may read.
fn parts_of(stored: i64) -> u32 {
    stored.clamp(0, i64::from(MAX_PARTS)) as u32
}

impl DynamoStore {
    /// One segment of [`Counters::sum_through`]'s `Scan`.
    async fn scan_segment(
        &self,
        segment: i32,
        through_hour: i64,
    ) -> Result<ByFunction, StoreError> {
        let mut figures = ByFunction::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.counter_table)
                .segment(segment)
                .total_segments(SCAN_SEGMENTS)
                .projection_expression("pk, sk, #f, #h, #p, #n, #x")
                .expression_attribute_names("#f", "function")
                .expression_attribute_names("#h", "hour")
                .expression_attribute_names("#p", StatusClass::Positive.attribute())
                .expression_attribute_names("#n", StatusClass::Negative.attribute())
                .expression_attribute_names("#x", StatusClass::Failed.attribute())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("Scan", e))?;
            for item in out.items.unwrap_or_default() {
                if let Some((hour, name, bucket)) = counted_key(&item)? {
                    if hour <= through_hour {
                        figures.entry(name).or_default().add(bucket, tally(&item));
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(figures);
            }
        }
    }

    /// The old layout's items of `hour`: its day's partition, the hour's range of it.
    async fn legacy_hour(&self, hour: i64) -> Result<ByFunction, StoreError> {
        let items = query_all(
            self.client
                .query()
                .table_name(&self.counter_table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :hour)")
                .expression_attribute_values(":pk", s(format!("D#{}", hour.div_euclid(24))))
                .expression_attribute_values(":hour", s(format!("{}#", hour_sk(hour)))),
        )
        .await?;
        let mut figures = ByFunction::new();
        for item in items {
            figures
                .entry(string(&item, "function")?)
                .or_default()
                .add(None, tally(&item));
        }
        Ok(figures)
    }
}
