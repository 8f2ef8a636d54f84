//! [`Counters`] on DynamoDB: the counter table, one partition a day (`D#<day>`) holding one
//! item per hour, function and shard.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{n, number, query_all, s, sdk_err, string, DynamoStore, Item};
use crate::store::{sum_rows, CounterRow, Counters, StatusClass, StoreError, Tally};

#[async_trait]
impl Counters for DynamoStore {
    async fn add(
        &self,
        function: &str,
        hour: i64,
        shard: u32,
        class: StatusClass,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.counter_table)
            .key("pk", s(format!("D#{}", hour.div_euclid(24))))
            .key("sk", s(format!("{hour:010}#{function}#{shard}")))
            .update_expression("ADD #c :one SET #f = :f, #h = :h")
            .expression_attribute_names("#c", class.attribute())
            .expression_attribute_names("#f", "function")
            .expression_attribute_names("#h", "hour")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":f", s(function))
            .expression_attribute_values(":h", n(hour))
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem", e))?;
        Ok(())
    }

    async fn read_hours(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<CounterRow>, StoreError> {
        if to_hour < from_hour {
            return Ok(Vec::new());
        }
        let days = from_hour.div_euclid(24)..=to_hour.div_euclid(24);
        let queries = days.map(|day| self.read_day(day, from_hour, to_hour));
        let per_day = futures::future::try_join_all(queries).await?;
        Ok(sum_rows(per_day.into_iter().flatten()))
    }

    /// A paginated `Scan` of the whole counter table, projected to the four attributes summed.
    /// Cost: the table holds one item per (hour, function, shard) that saw traffic, so at most
    /// 24 x functions x shards items a day (about 1,500 today, some 100 bytes each): a year
    /// of it is some 50 MB, about 6,500 read units (eventually consistent) per call. That is
    /// fine for an operator's page view; rolling closed days up into one item per function
    /// would bound it, if the dashboard were ever polled.
    async fn totals_by_function(&self) -> Result<BTreeMap<String, Tally>, StoreError> {
        let mut totals: BTreeMap<String, Tally> = BTreeMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.counter_table)
                .projection_expression("#f, #p, #n, #x")
                .expression_attribute_names("#f", "function")
                .expression_attribute_names("#p", StatusClass::Positive.attribute())
                .expression_attribute_names("#n", StatusClass::Negative.attribute())
                .expression_attribute_names("#x", StatusClass::Failed.attribute())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("Scan", e))?;
            for item in out.items.unwrap_or_default() {
                *totals.entry(string(&item, "function")?).or_default() += tally(&item);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(totals)
    }
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

impl DynamoStore {
    /// The rows of one day partition whose hour lies in `from_hour..=to_hour`.
    async fn read_day(
        &self,
        day: i64,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<CounterRow>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.counter_table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(format!("D#{day}")))
            .expression_attribute_values(":from", s(format!("{from_hour:010}#")))
            .expression_attribute_values(":to", s(format!("{to_hour:010}#~")));
        query_all(query)
            .await?
            .iter()
            .map(|item| {
                let Tally {
                    positive,
                    negative,
                    failed,
                } = tally(item);
                Ok(CounterRow {
                    function: string(item, "function")?,
                    hour: number(item, "hour")?,
                    positive,
                    negative,
                    failed,
                })
            })
            .collect()
    }
}
