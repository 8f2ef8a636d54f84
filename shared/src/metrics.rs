//! Request counting for the dashboard: once per request, by status class, per function and hour,
//! on a random shard so that no single counter item gets hot.

use std::collections::BTreeMap;

use rand::Rng;

use crate::store::{CounterRow, Counters, StatusClass, StoreError, Tally};
use crate::Ctx;

/// The hour bucket a Unix time falls in.
pub fn hour_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(3600)
}

/// The most counting may add to a response: a slow counter table loses counts, not time.
pub const COUNT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Counts one response of `function`. A failure is logged and never reaches the client.
pub async fn count(ctx: &Ctx, function: &str, status: u16) {
    let Some(class) = StatusClass::of(status) else {
        return;
    };
    let shard = rand::thread_rng().gen_range(0..ctx.config.counter_shards);
    let add = ctx.store.add(function, hour_of(ctx.now()), shard, class);
    match tokio::time::timeout(COUNT_TIMEOUT, add).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(function, status, error = %e, "request not counted"),
        Err(_) => tracing::warn!(
            function,
            status,
            "request not counted: the counter table did not answer in time"
        ),
    }
}

/// How many hours the dashboard's recent figures and chart cover, the current one included.
pub const RECENT_HOURS: i64 = 24;

/// One function's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionFigures {
    pub all_time: Tally,
    pub recent: Tally,
}

/// What the dashboard shows: totals since counting began and over the last [`RECENT_HOURS`]
/// hours, per function, and per hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The current hour (see [`hour_of`]); the recent window is `now_hour - 23 ..= now_hour`.
    pub now_hour: i64,
    pub all_time: Tally,
    pub recent: Tally,
    /// Every function that has counts, by name.
    pub functions: BTreeMap<String, FunctionFigures>,
    /// One entry per hour of the recent window, oldest first, hours without traffic included.
    pub hours: Vec<(i64, Tally)>,
}

impl Report {
    /// Folds all-time totals and the recent window's rows into the figures. Rows of hours outside
    /// the window are left out of the recent figures (they are in the totals already).
    pub fn new(totals: BTreeMap<String, Tally>, recent_rows: &[CounterRow], now_hour: i64) -> Self {
        let first_hour = now_hour - (RECENT_HOURS - 1);
        let mut hours: Vec<(i64, Tally)> = (first_hour..=now_hour)
            .map(|h| (h, Tally::default()))
            .collect();
        let mut functions: BTreeMap<String, FunctionFigures> = totals
            .into_iter()
            .map(|(f, all_time)| {
                let figures = FunctionFigures {
                    all_time,
                    recent: Tally::default(),
                };
                (f, figures)
            })
            .collect();
        for row in recent_rows {
            if !(first_hour..=now_hour).contains(&row.hour) {
                continue;
            }
            hours[(row.hour - first_hour) as usize].1 += row.tally();
            functions.entry(row.function.clone()).or_default().recent += row.tally();
        }
        let mut all_time = Tally::default();
        let mut recent = Tally::default();
        for figures in functions.values() {
            all_time += figures.all_time;
            recent += figures.recent;
        }
        Report {
            now_hour,
            all_time,
            recent,
            functions,
            hours,
        }
    }

    /// The figures of `function`, zero if it has never been counted.
    pub fn function(&self, function: &str) -> FunctionFigures {
        self.functions.get(function).copied().unwrap_or_default()
    }
}

/// Reads the report at Unix time `now`: the all-time totals and the recent window, read at once
/// (one Scan and two Queries on DynamoDB, two statements on SQLite).
pub async fn report<C: Counters + ?Sized>(counters: &C, now: i64) -> Result<Report, StoreError> {
    let now_hour = hour_of(now);
    let (totals, rows) = futures::future::try_join(
        counters.totals_by_function(),
        counters.read_hours(now_hour - (RECENT_HOURS - 1), now_hour),
    )
    .await?;
    Ok(Report::new(totals, &rows, now_hour))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn tally(positive: u64, negative: u64, failed: u64) -> Tally {
        Tally {
            positive,
            negative,
            failed,
        }
    }

    async fn add(store: &SqliteStore, function: &str, hour: i64, shard: u32, class: StatusClass) {
        store.add(function, hour, shard, class).await.unwrap();
    }

    const NOW: i64 = 480_000 * 3600 + 1234;

    #[tokio::test]
    async fn an_empty_table_gives_zeros_and_24_empty_hours() {
        let store = SqliteStore::open_in_memory().unwrap();
        let r = report(&store, NOW).await.unwrap();
        assert_eq!(r.all_time, Tally::default());
        assert_eq!(r.recent, Tally::default());
        assert!(r.functions.is_empty());
        assert_eq!(r.hours.len(), 24);
        assert_eq!(r.hours.first().unwrap().0, hour_of(NOW) - 23);
        assert_eq!(r.hours.last().unwrap().0, hour_of(NOW));
        assert!(r.hours.iter().all(|(_, t)| *t == Tally::default()));
        assert_eq!(r.function("loans"), FunctionFigures::default());
    }

    #[tokio::test]
    async fn shards_and_hours_are_summed_per_function_and_class() {
        let store = SqliteStore::open_in_memory().unwrap();
        let h = hour_of(NOW);
        for shard in 0..4 {
            add(&store, "token", h, shard, StatusClass::Positive).await;
        }
        add(&store, "token", h, 1, StatusClass::Negative).await;
        add(&store, "token", h - 5, 2, StatusClass::Positive).await;
        add(&store, "loans", h - 5, 0, StatusClass::Failed).await;
        add(&store, "loans", h - 5, 3, StatusClass::Failed).await;
        add(&store, "loans", h, 3, StatusClass::Negative).await;

        let totals = store.totals_by_function().await.unwrap();
        assert_eq!(totals["token"], tally(5, 1, 0));
        assert_eq!(totals["loans"], tally(0, 1, 2));
        let rows = store.read_hours(h - 5, h - 5).await.unwrap();
        assert_eq!(rows.len(), 2, "one row per function and hour: {rows:?}");

        let r = report(&store, NOW).await.unwrap();
        assert_eq!(r.all_time, tally(5, 2, 2));
        assert_eq!(r.all_time.requests(), 9);
        assert_eq!(r.recent, r.all_time);
        assert_eq!(r.function("token").recent, tally(5, 1, 0));
        assert_eq!(r.hours[23], (h, tally(4, 2, 0)));
        assert_eq!(r.hours[18], (h - 5, tally(1, 0, 2)));
        let charted = r.hours.iter().fold(Tally::default(), |mut sum, (_, t)| {
            sum += *t;
            sum
        });
        assert_eq!(charted, r.recent);
    }

    #[tokio::test]
    async fn the_recent_window_is_the_current_hour_and_the_23_before_it() {
        let store = SqliteStore::open_in_memory().unwrap();
        let h = hour_of(NOW);
        add(&store, "token", h - 24, 0, StatusClass::Positive).await; // a day ago: all-time only
        add(&store, "token", h - 23, 0, StatusClass::Negative).await; // oldest hour in the window
        add(&store, "token", h, 0, StatusClass::Failed).await; // this hour
        add(&store, "token", h + 1, 0, StatusClass::Failed).await; // a clock ahead: all-time only

        let r = report(&store, NOW).await.unwrap();
        assert_eq!(r.all_time, tally(1, 1, 2));
        assert_eq!(r.recent, tally(0, 1, 1));
        assert_eq!(r.hours[0], (h - 23, tally(0, 1, 0)));
        assert_eq!(r.hours[23], (h, tally(0, 0, 1)));
        // The last second of an hour and the first of the next fall in different buckets.
        assert_eq!(hour_of((h + 1) * 3600 - 1), h);
        assert_eq!(hour_of((h + 1) * 3600), h + 1);
    }

    #[test]
    fn rows_outside_the_window_or_of_unlisted_functions_are_handled() {
        let row = |function: &str, hour, p| CounterRow {
            function: function.into(),
            hour,
            positive: p,
            ..Default::default()
        };
        let totals = BTreeMap::from([("token".to_string(), tally(7, 0, 0))]);
        let r = Report::new(
            totals,
            &[
                row("token", 100, 2),
                row("gone", 99, 1),
                row("token", 10, 5),
            ],
            100,
        );
        assert_eq!(r.function("token").recent, tally(2, 0, 0));
        assert_eq!(
            r.function("gone"),
            FunctionFigures {
                all_time: Tally::default(),
                recent: tally(1, 0, 0)
            }
        );
        assert_eq!(r.recent, tally(3, 0, 0));
        assert_eq!(r.all_time, tally(7, 0, 0));
    }

    #[test]
    fn hours_start_on_the_hour() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(3599), 0);
        assert_eq!(hour_of(3600), 1);
        assert_eq!(hour_of(-1), -1);
    }

    #[test]
    fn only_2xx_4xx_5xx_are_counted() {
        assert_eq!(StatusClass::of(201), Some(StatusClass::Positive));
        assert_eq!(StatusClass::of(404), Some(StatusClass::Negative));
        assert_eq!(StatusClass::of(503), Some(StatusClass::Failed));
        assert_eq!(StatusClass::of(302), None);
    }
}
