//! Request counting and the figures the dashboard reads back (ARCHITECTURE.md §7).
//!
//! Each answer is one atomic add on the counter table, keyed by hour, a random one of the hour's
//! parts (partitions), endpoint and duration bucket ([`crate::latency`]); and one CloudWatch
//! Embedded Metric Format line on stdout. Reading rolls closed hours up into one item each and
//! the all-time figures into one more, so a report is a bounded number of reads.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;

use crate::latency::{self, Percentiles};
use crate::store::{
    merge_functions, AllTime, ByFunction, Counters, Figures, Rollups, StatusClass, StoreError,
    MAX_PARTS,
};
use crate::Ctx;

/// The hour bucket a Unix time falls in.
pub fn hour_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(3600)
}

/// The most the count's write may add to a response: a slow counter table loses counts, not
/// time. Recording a loss may add at most [`LOSS_TIMEOUT`] more.
pub const COUNT_TIMEOUT: Duration = Duration::from_secs(1);
pub const LOSS_TIMEOUT: Duration = Duration::from_millis(250);

/// Counts one answer of an endpoint (counted under `key`, of `function`) with its status and how
/// long its handler took, within [`COUNT_TIMEOUT`] (and [`LOSS_TIMEOUT`] to record a loss). A
/// failure to count never reaches the client:
/// it is logged, recorded as a loss of its hour apart from the counter table, and reported in the
/// answer's metric line. (A write that timed out may still land: then the loss is an overcount.)
pub async fn count(ctx: &Ctx, key: &str, function: &str, status: u16, took: Duration) {
    use std::sync::atomic::Ordering;
    let Some(class) = StatusClass::of(status) else {
        return;
    };
    let ms = took.as_secs_f64() * 1000.0;
    let hour = hour_of(ctx.now());
    let parts = ctx.config.counter_parts();
    // Until this process has noted how many parts it spreads over, it writes part 0, which every
    // reader reads: a part no reader knows of would hide its counts. One answer notes it (beside
    // its own count); the others do not wait for it.
    const NOT_NOTED: u8 = 0;
    const NOTING: u8 = 1;
    const NOTED: u8 = 2;
    let noted = parts == 1 || ctx.parts_noted.load(Ordering::Acquire) == NOTED;
    let part = if noted { pick_part(parts) } else { 0 };
    let add = add_one(ctx.store.as_ref(), key, hour, part, class, ms);
    let notes = !noted
        && ctx
            .parts_noted
            .compare_exchange(NOT_NOTED, NOTING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
    let note = async {
        if notes {
            let outcome = ctx.store.note_parts(parts).await;
            if let Err(e) = &outcome {
                tracing::warn!(function, error = %e, "counter parts not noted");
            }
            let next = if outcome.is_ok() { NOTED } else { NOT_NOTED };
            ctx.parts_noted.store(next, Ordering::Release);
        }
    };
    let add = async { futures::future::join(add, note).await.0 };
    let lost = match tokio::time::timeout(COUNT_TIMEOUT, add).await {
        Ok(Ok(())) => false,
        Ok(Err(e)) => {
            tracing::warn!(function, status, error = %e, "request not counted");
            true
        }
        Err(_) => {
            tracing::warn!(
                function,
                status,
                "request not counted: the counter table did not answer in time"
            );
            true
        }
    };
    if lost {
        let record = ctx.store.record_loss(hour, part);
        match tokio::time::timeout(LOSS_TIMEOUT, record).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(function, hour, error = %e, "lost count not recorded"),
            Err(_) => tracing::error!(function, hour, "lost count not recorded in time"),
        }
    }
    if ctx.config.emf_metrics {
        let line = emf_line(
            &ctx.config.metrics_namespace,
            function,
            key,
            class,
            ms,
            lost,
            unix_millis(),
        );
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A part of an hour, uniformly at random: over many answers, each part takes `1 / parts` of them.
pub fn pick_part(parts: u32) -> u32 {
    rand::thread_rng().gen_range(0..parts.max(1))
}

/// The one write that counts an answer: an atomic add to its (hour, part, name, bucket).
pub async fn add_one<C: Counters + ?Sized>(
    counters: &C,
    key: &str,
    hour: i64,
    part: u32,
    class: StatusClass,
    ms: f64,
) -> Result<(), StoreError> {
    counters
        .add(key, hour, part, latency::bucket_of(ms), class)
        .await
}

/// One answer as a CloudWatch Embedded Metric Format log line: `Requests`, `ClientErrors`,
/// `ServerErrors`, `Duration` (ms) and `CountsLost`, per function and over all of them; the
/// endpoint is a property (searchable in Logs Insights, not a dimension: each dimension value
/// is a metric of its own, billed monthly).
pub fn emf_line(
    namespace: &str,
    function: &str,
    endpoint: &str,
    class: StatusClass,
    ms: f64,
    lost: bool,
    timestamp_ms: i64,
) -> String {
    let metric = |name: &str, unit: &str| serde_json::json!({"Name": name, "Unit": unit});
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Function"], []],
                "Metrics": [
                    metric("Requests", "Count"),
                    metric("ClientErrors", "Count"),
                    metric("ServerErrors", "Count"),
                    metric("Duration", "Milliseconds"),
                    metric("CountsLost", "Count"),
                ],
            }],
        },
        "Function": function,
        "Endpoint": endpoint,
        "Requests": 1,
        "ClientErrors": u8::from(class == StatusClass::Negative),
        "ServerErrors": u8::from(class == StatusClass::Failed),
        "Duration": (ms * 1000.0).round() / 1000.0,
        "CountsLost": u8::from(lost),
    })
    .to_string()
}

/// How many hours the dashboard's recent figures and chart cover, the current one included.
pub const RECENT_HOURS: i64 = 24;

/// How long after its end an hour is closed and may be rolled up: counting stamps an answer
/// with the hour it ends in and waits at most [`COUNT_TIMEOUT`], so this leaves room for clocks.
pub const CLOSE_AFTER_SECS: i64 = 120;

/// The most counter-table queries one report spends reading the parts of hours older than the
/// recent window that the all-time roll-up has not reached, and the most such hours it takes up
/// at all (a dashboard unseen for weeks catches up over several reports, and says so).
pub const CATCH_UP_QUERIES: u32 = 1_000;
pub const CATCH_UP_HOURS: i64 = 1_000;

/// The figures counted under one name (an endpoint's [`crate::route::Endpoint::counter_key`],
/// or a function's name for counts kept before routes were counted apart).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionFigures {
    pub all_time: Figures,
    pub recent: Figures,
}

impl FunctionFigures {
    pub fn merge(&mut self, other: &FunctionFigures) {
        self.all_time.merge(&other.all_time);
        self.recent.merge(&other.recent);
    }
}

/// One hour of the chart: every function's figures together, and the counts lost in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hour {
    pub hour: i64,
    pub figures: Figures,
    pub lost: u64,
}

/// What the dashboard shows: totals since counting began and over the last [`RECENT_HOURS`]
/// hours, per function, and per hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The current hour (see [`hour_of`]); the recent window is `now_hour - 23 ..= now_hour`.
    pub now_hour: i64,
    pub all_time: Figures,
    pub recent: Figures,
    /// Everything counted, by the name it was counted under (see [`FunctionFigures`]).
    pub functions: BTreeMap<String, FunctionFigures>,
    /// One entry per hour of the recent window, oldest first, hours without traffic included.
    pub hours: Vec<Hour>,
    /// Every hour that lost counts (the counter table refused them), with how many.
    pub losses: BTreeMap<i64, u64>,
    /// Hours the all-time figures do not hold yet (`from..=to`): the roll-up is catching up.
    pub catching_up: Option<(i64, i64)>,
}

impl Report {
    /// Nothing counted, at hour `now_hour`.
    pub fn empty(now_hour: i64) -> Self {
        Report {
            now_hour,
            all_time: Figures::default(),
            recent: Figures::default(),
            functions: BTreeMap::new(),
            hours: ((now_hour - (RECENT_HOURS - 1))..=now_hour)
                .map(|hour| Hour {
                    hour,
                    ..Default::default()
                })
                .collect(),
            losses: BTreeMap::new(),
            catching_up: None,
        }
    }

    /// The figures counted under `name`, zero if nothing was.
    pub fn function(&self, name: &str) -> FunctionFigures {
        self.functions.get(name).cloned().unwrap_or_default()
    }

    /// Counts lost before the recent window.
    pub fn lost_earlier(&self) -> u64 {
        let first = self.now_hour - (RECENT_HOURS - 1);
        self.losses.range(..first).map(|(_, n)| n).sum()
    }
}

/// Server errors (5xx) and client errors (4xx) as shares of all answers of `figures`.
pub fn error_rates(figures: &Figures) -> Option<(f64, f64)> {
    let all = figures.tally.requests();
    (all > 0).then(|| {
        (
            figures.tally.failed as f64 / all as f64,
            figures.tally.negative as f64 / all as f64,
        )
    })
}

/// p50, p95, p99 and max of `figures`' durations; `None` without any.
pub fn percentiles(figures: &Figures) -> Option<Percentiles> {
    figures.latency.percentiles()
}

/// Reads the report at Unix time `now`, rolling up what has closed since the last reader:
/// `parts` is how many parts the counting functions spread an hour over now.
///
/// Reads: one `Query` of the roll-ups (the last 24 hours' and the all-time one), one of the
/// losses, and the open hour's parts; plus, for hours closed since the last report, their parts
/// and a write of their roll-up. A first report ever also reads the whole table once.
pub async fn report<C: Counters + ?Sized>(
    counters: &C,
    now: i64,
    parts: u32,
) -> Result<Report, StoreError> {
    let now_hour = hour_of(now);
    let first = now_hour - (RECENT_HOURS - 1);
    let last_closed = hour_of(now - CLOSE_AFTER_SECS) - 1;
    let (stored, losses) =
        futures::future::try_join(counters.rollups(first, now_hour), counters.losses()).await?;
    let Rollups {
        hours: mut rollups,
        all_time: stored,
        parts: noted,
    } = stored;
    let parts = parts.max(noted).clamp(1, MAX_PARTS);
    let prev = stored.as_ref().map(|a| a.through_hour);
    let mut all = match stored {
        Some(all) => all,
        None => AllTime {
            through_hour: first - 1,
            functions: counters.sum_through(first - 1).await?,
        },
    };

    // The recent window: roll-ups where they exist, the parts where not (rolling closed hours up).
    let missing: Vec<i64> = (first..=now_hour)
        .filter(|h| !rollups.contains_key(h))
        .collect();
    rollups.extend(read_hours(counters, missing.into_iter(), parts, last_closed).await?);

    // Closed hours before the window the all-time roll-up has not reached: their roll-ups where
    // they exist (one query), their parts where not, within the budget; folded in order, up to
    // the first hour not read.
    if all.through_hour + 1 < first {
        let from = all.through_hour + 1;
        let to = (first - 1).min(from + CATCH_UP_HOURS - 1);
        let mut older = counters.hour_rollups(from, to).await?;
        let raw_budget = (CATCH_UP_QUERIES / parts.saturating_add(1)).max(1) as usize;
        let unread: Vec<i64> = (from..=to)
            .filter(|h| !older.contains_key(h))
            .take(raw_budget)
            .collect();
        older.extend(read_hours(counters, unread.into_iter(), parts, i64::MAX).await?);
        for h in from..=to {
            let Some(figures) = older.get(&h) else { break };
            merge_functions(&mut all.functions, figures);
            all.through_hour = h;
        }
    }
    let catching_up = (all.through_hour + 1 < first).then_some((all.through_hour + 1, first - 1));
    if catching_up.is_none() {
        for h in (all.through_hour + 1)..=last_closed {
            if let Some(figures) = rollups.get(&h) {
                merge_functions(&mut all.functions, figures);
                all.through_hour = h;
            }
        }
    }
    if prev.is_none_or(|p| p < all.through_hour) {
        // Losing the race only means another reader wrote the same sums first.
        counters.advance_all_time(prev, &all).await?;
    }

    let mut all_time = all.functions;
    let mut functions: BTreeMap<String, FunctionFigures> = BTreeMap::new();
    let mut hours = Vec::with_capacity(RECENT_HOURS as usize);
    for h in first..=now_hour {
        let by_function = rollups.remove(&h).unwrap_or_default();
        if h > all.through_hour {
            merge_functions(&mut all_time, &by_function);
        }
        let mut figures = Figures::default();
        for (function, f) in &by_function {
            figures.merge(f);
            functions
                .entry(function.clone())
                .or_default()
                .recent
                .merge(f);
        }
        let lost = losses.get(&h).copied().unwrap_or(0);
        hours.push(Hour {
            hour: h,
            figures,
            lost,
        });
    }
    for (function, f) in all_time {
        functions.entry(function).or_default().all_time = f;
    }
    let mut total = Figures::default();
    let mut recent = Figures::default();
    for f in functions.values() {
        total.merge(&f.all_time);
        recent.merge(&f.recent);
    }
    Ok(Report {
        now_hour,
        all_time: total,
        recent,
        functions,
        hours,
        losses,
        catching_up,
    })
}

/// How many hours a report reads at once (each its parts' queries): enough to hide round trips,
/// few enough for a 128 MB function's connections.
const HOURS_IN_FLIGHT: usize = 8;

/// Each of `hours` as counted, its parts summed; those up to `roll_up_through` are closed, and
/// their roll-up is written.
async fn read_hours<C: Counters + ?Sized>(
    counters: &C,
    hours: impl Iterator<Item = i64>,
    parts: u32,
    roll_up_through: i64,
) -> Result<Vec<(i64, ByFunction)>, StoreError> {
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(hours.map(|h| async move {
        let figures = counters.read_hour(h, parts).await?;
        if h <= roll_up_through {
            counters.put_rollup(h, &figures).await?;
        }
        Ok::<_, StoreError>((h, figures))
    }))
    .buffer_unordered(HOURS_IN_FLIGHT)
    .try_collect()
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::Tally;

    fn tally(positive: u64, negative: u64, failed: u64) -> Tally {
        Tally {
            positive,
            negative,
            failed,
        }
    }

    /// The store, with every call it served written down: how the tests see what a report reads.
    struct Recording {
        inner: SqliteStore,
        calls: Mutex<Vec<String>>,
        /// Each add's partition, as the DynamoDB adapter keys it.
        adds: Mutex<Vec<String>>,
    }

    impl Recording {
        fn new() -> Self {
            Recording {
                inner: SqliteStore::open_in_memory().unwrap(),
                calls: Default::default(),
                adds: Default::default(),
            }
        }
        fn note(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
        fn take_calls(&self) -> Vec<String> {
            std::mem::take(&mut *self.calls.lock().unwrap())
        }
    }

    #[async_trait]
    impl Counters for Recording {
        async fn add(
            &self,
            function: &str,
            hour: i64,
            part: u32,
            bucket: u16,
            class: StatusClass,
        ) -> Result<(), StoreError> {
            self.adds
                .lock()
                .unwrap()
                .push(crate::store::dynamo::count_partition(hour, part));
            self.inner.add(function, hour, part, bucket, class).await
        }
        async fn read_hour(&self, hour: i64, parts: u32) -> Result<ByFunction, StoreError> {
            self.note(format!("read_hour {hour}"));
            self.inner.read_hour(hour, parts).await
        }
        async fn rollups(&self, from_hour: i64, to_hour: i64) -> Result<Rollups, StoreError> {
            self.note("rollups".into());
            self.inner.rollups(from_hour, to_hour).await
        }
        async fn hour_rollups(
            &self,
            from_hour: i64,
            to_hour: i64,
        ) -> Result<BTreeMap<i64, ByFunction>, StoreError> {
            self.note("hour_rollups".into());
            self.inner.hour_rollups(from_hour, to_hour).await
        }
        async fn note_parts(&self, parts: u32) -> Result<(), StoreError> {
            self.inner.note_parts(parts).await
        }
        async fn put_rollup(&self, hour: i64, figures: &ByFunction) -> Result<(), StoreError> {
            self.note(format!("put_rollup {hour}"));
            self.inner.put_rollup(hour, figures).await
        }
        async fn advance_all_time(
            &self,
            prev: Option<i64>,
            next: &AllTime,
        ) -> Result<bool, StoreError> {
            self.note(format!("advance_all_time {}", next.through_hour));
            self.inner.advance_all_time(prev, next).await
        }
        async fn sum_through(&self, through_hour: i64) -> Result<ByFunction, StoreError> {
            self.note("sum_through".into());
            self.inner.sum_through(through_hour).await
        }
        async fn record_loss(&self, hour: i64, part: u32) -> Result<(), StoreError> {
            self.inner.record_loss(hour, part).await
        }
        async fn losses(&self) -> Result<BTreeMap<i64, u64>, StoreError> {
            self.note("losses".into());
            self.inner.losses().await
        }
    }

    async fn add<C: Counters>(
        s: &C,
        function: &str,
        hour: i64,
        part: u32,
        class: StatusClass,
        ms: f64,
    ) {
        add_one(s, function, hour, part, class, ms).await.unwrap();
    }

    /// 480,000 hours after the epoch, 20 minutes and 34 s into the hour.
    const NOW: i64 = 480_000 * 3600 + 1234;

    #[tokio::test]
    async fn an_empty_table_gives_zeros_and_24_empty_hours() {
        let store = SqliteStore::open_in_memory().unwrap();
        let r = report(&store, NOW, 2).await.unwrap();
        assert_eq!(r.all_time, Figures::default());
        assert_eq!(r.recent, Figures::default());
        assert!(r.functions.is_empty());
        assert_eq!(r.hours.len(), 24);
        assert_eq!(r.hours.first().unwrap().hour, hour_of(NOW) - 23);
        assert_eq!(r.hours.last().unwrap().hour, hour_of(NOW));
        assert!(r.hours.iter().all(|h| h.figures == Figures::default()));
        assert_eq!(r.function("loans"), FunctionFigures::default());
        assert_eq!(r.catching_up, None);
        assert_eq!(percentiles(&r.recent), None);
        assert_eq!(error_rates(&r.recent), None);
    }

    #[tokio::test]
    async fn parts_buckets_and_hours_are_summed_per_function_and_class() {
        let store = SqliteStore::open_in_memory().unwrap();
        let h = hour_of(NOW);
        for part in 0..4 {
            add(&store, "token", h, part, StatusClass::Positive, 10.0).await;
        }
        add(&store, "token", h, 1, StatusClass::Negative, 200.0).await;
        add(&store, "token", h - 5, 2, StatusClass::Positive, 10.0).await;
        add(&store, "loans", h - 5, 0, StatusClass::Failed, 3.0).await;
        add(&store, "loans", h - 5, 3, StatusClass::Failed, 3.0).await;
        add(&store, "loans", h, 3, StatusClass::Negative, 1.0).await;

        store.note_parts(4).await.unwrap(); // as `count` does before it writes past part 0
        let r = report(&store, NOW, 4).await.unwrap();
        assert_eq!(r.all_time.tally, tally(5, 2, 2));
        assert_eq!(r.recent, r.all_time);
        assert_eq!(r.function("token").recent.tally, tally(5, 1, 0));
        assert_eq!(r.function("token").recent.latency.count(), 6);
        assert_eq!(r.hours[23].figures.tally, tally(4, 2, 0));
        assert_eq!(r.hours[18].figures.tally, tally(1, 0, 2));
        let token = percentiles(&r.function("token").all_time).unwrap();
        assert!((token.p50 - 10.0).abs() <= 10.0 * latency::RELATIVE_ERROR);
        assert!((token.max - 200.0).abs() <= 200.0 * latency::RELATIVE_ERROR);
        let (server, client) = error_rates(&r.function("loans").all_time).unwrap();
        assert!((server - 2.0 / 3.0).abs() < 1e-9 && (client - 1.0 / 3.0).abs() < 1e-9);
        let mut charted = Figures::default();
        for hour in &r.hours {
            charted.merge(&hour.figures);
        }
        assert_eq!(charted, r.recent);

        // A reader of a lowered target still reads every part a writer noted, and a lower note
        // never lowers it.
        let again = report(&store, NOW, 1).await.unwrap();
        assert_eq!(again.all_time.tally, tally(5, 2, 2));
        store.note_parts(6).await.unwrap();
        store.note_parts(2).await.unwrap();
        add(&store, "loans", h, 5, StatusClass::Positive, 1.0).await;
        let lowered = report(&store, NOW, 1).await.unwrap();
        assert_eq!(lowered.all_time.tally, tally(6, 2, 2));
        assert_eq!(store.rollups(h, h).await.unwrap().parts, 6);
    }

    /// `count` itself: a process writes part 0 until it has noted its parts, then spreads; a
    /// reader configured for fewer parts still finds every count.
    #[tokio::test]
    async fn a_counting_process_notes_its_parts_before_it_spreads_over_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::embedded(dir.path().join("c.db"), vec![7; 32]);
        config.counter_target_rps = 5_000;
        let ctx = Ctx::embedded(config).unwrap();
        for _ in 0..200 {
            count(
                &ctx,
                "loans POST /api/accounts/loans/",
                "loans",
                200,
                Duration::from_millis(3),
            )
            .await;
        }
        let now = ctx.now();
        let h = hour_of(now);
        assert_eq!(ctx.store.rollups(h, h).await.unwrap().parts, 10);
        let spread = ctx.store.read_hour(h, 10).await.unwrap();
        let one_part = ctx.store.read_hour(h, 1).await.unwrap();
        assert_eq!(
            spread["loans POST /api/accounts/loans/"].tally.positive,
            200
        );
        assert!(
            one_part["loans POST /api/accounts/loans/"].tally.positive < 100,
            "the counts spread over the parts"
        );
        let r = report(ctx.store.as_ref(), now, 1).await.unwrap();
        assert_eq!(
            r.recent.tally.positive, 200,
            "a reader configured for one part reads ten"
        );
        assert_eq!(r.recent.latency.count(), 200);
    }

    #[tokio::test]
    async fn the_recent_window_is_the_current_hour_and_the_23_before_it() {
        let store = SqliteStore::open_in_memory().unwrap();
        let h = hour_of(NOW);
        add(&store, "token", h - 24, 0, StatusClass::Positive, 1.0).await; // all-time only
        add(&store, "token", h - 23, 0, StatusClass::Negative, 1.0).await; // oldest in the window
        add(&store, "token", h, 0, StatusClass::Failed, 1.0).await; // this hour
        add(&store, "token", h + 1, 0, StatusClass::Failed, 1.0).await; // a clock ahead: not yet

        let r = report(&store, NOW, 1).await.unwrap();
        assert_eq!(r.all_time.tally, tally(1, 1, 1));
        assert_eq!(r.recent.tally, tally(0, 1, 1));
        assert_eq!(r.hours[0].figures.tally, tally(0, 1, 0));
        assert_eq!(r.hours[23].figures.tally, tally(0, 0, 1));
        assert_eq!(hour_of((h + 1) * 3600 - 1), h);
        assert_eq!(hour_of((h + 1) * 3600), h + 1);
        assert_eq!(hour_of(-1), -1);
    }

    #[tokio::test]
    async fn closed_hours_are_rolled_up_once_and_later_reports_read_a_bounded_set() {
        let store = Recording::new();
        let h = hour_of(NOW);
        for back in 0..30 {
            add(&store, "loans", h - back, 0, StatusClass::Positive, 5.0).await;
            add(&store, "token", h - back, 1, StatusClass::Negative, 50.0).await;
        }
        let first = report(&store, NOW, 2).await.unwrap();
        assert_eq!(first.all_time.tally, tally(30, 30, 0));
        assert_eq!(first.recent.tally, tally(24, 24, 0));
        let calls = store.take_calls();
        assert_eq!(
            calls.iter().filter(|c| *c == "sum_through").count(),
            1,
            "{calls:?}"
        );
        assert_eq!(
            calls.iter().filter(|c| c.starts_with("put_rollup")).count(),
            23
        );

        // The same hour again: the 23 closed hours come from their roll-ups, the open one is read,
        // the whole table never again.
        let second = report(&store, NOW + 60, 2).await.unwrap();
        assert_eq!(second.all_time, first.all_time);
        assert_eq!(second.hours, first.hours);
        let calls = store.take_calls();
        assert_eq!(
            calls,
            vec![
                "rollups".to_string(),
                "losses".into(),
                format!("read_hour {h}")
            ],
        );

        // Three hours later, with no traffic: three hours close (and are rolled up), the
        // all-time roll-up moves on, and the figures still hold every answer.
        let later = NOW + 3 * 3600;
        add(
            &store,
            "loans",
            hour_of(later),
            1,
            StatusClass::Failed,
            900.0,
        )
        .await;
        let third = report(&store, later, 2).await.unwrap();
        assert_eq!(third.all_time.tally, tally(30, 30, 1));
        assert_eq!(third.recent.tally, tally(21, 21, 1));
        let calls = store.take_calls();
        assert_eq!(
            calls.iter().filter(|c| c.starts_with("read_hour")).count(),
            4,
            "{calls:?}"
        );
        assert!(
            calls.contains(&format!("advance_all_time {}", hour_of(later) - 1)),
            "{calls:?}"
        );
        assert!(!calls.contains(&"sum_through".to_string()));
    }

    #[tokio::test]
    async fn the_all_time_roll_up_starts_from_the_old_layout_and_catches_up_within_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counts.db");
        let store = SqliteStore::open(&path, std::time::Duration::from_secs(5)).unwrap();
        let h = hour_of(NOW);
        // Counts of the layout before parts and durations, still in the file.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "INSERT INTO counters (hour, function, shard, positive, negative, failed)
                 VALUES ({old}, 'token', 0, 7, 1, 0), ({old}, 'token', 3, 2, 0, 0),
                        ({recent}, 'loans', 1, 4, 0, 1);",
                old = h - 500,
                recent = h - 2,
            ))
            .unwrap();
        let r = report(&store, NOW, 1).await.unwrap();
        assert_eq!(r.function("token").all_time.tally, tally(9, 1, 0));
        assert_eq!(r.function("loans").recent.tally, tally(4, 0, 1));
        assert_eq!(r.all_time.tally, tally(13, 1, 1));
        // Counted without durations: no latency to show for them.
        assert_eq!(percentiles(&r.all_time), None);

        // A dashboard unseen for 2,000 hours: each report folds at most its budget of hours
        // into the all-time roll-up, says which it has not reached, and the sums stay exact.
        let later = NOW + 2_000 * 3600;
        for back in [30, 1_000, 1_990] {
            add(
                &store,
                "token",
                hour_of(later) - back,
                0,
                StatusClass::Positive,
                2.0,
            )
            .await;
        }
        let behind = report(&store, later, 1).await.unwrap();
        let (from, to) = behind.catching_up.expect("not caught up in one report");
        assert_eq!(to, hour_of(later) - 24);
        let raw_hours = i64::from(CATCH_UP_QUERIES / 2);
        assert_eq!(
            from,
            h + raw_hours,
            "the all-time figures reached h - 1, then {raw_hours} more"
        );
        let mut reports = 1;
        loop {
            let r = report(&store, later, 1).await.unwrap();
            reports += 1;
            if r.catching_up.is_none() {
                assert_eq!(r.all_time.tally, tally(16, 1, 1));
                break;
            }
            assert!(reports < 10, "never caught up");
        }
        assert!(
            reports >= 4,
            "{reports} reports: the budget is {CATCH_UP_QUERIES} queries"
        );
    }

    #[tokio::test]
    async fn lost_counts_are_shown_by_hour() {
        let store = SqliteStore::open_in_memory().unwrap();
        let h = hour_of(NOW);
        store.record_loss(h - 3, 0).await.unwrap();
        store.record_loss(h - 3, 1).await.unwrap();
        store.record_loss(h - 100, 0).await.unwrap();
        let r = report(&store, NOW, 1).await.unwrap();
        assert_eq!(r.hours[20].lost, 2);
        assert_eq!(r.hours.iter().map(|h| h.lost).sum::<u64>(), 2);
        assert_eq!(r.lost_earlier(), 1);
    }

    /// The capacity model of README.md, by simulation: 50,000 answers of a service sized for
    /// 5,000 a second, over ten simulated seconds, through the same choice of part and the same
    /// write as production. Every sum comes back exact, and no partition takes more than the
    /// model's share (`WRITES_PER_PART`, 500 a second, with room for chance) in any second, far
    /// under DynamoDB's 1,000.
    #[tokio::test]
    async fn sharding_keeps_each_partition_under_its_write_limit_and_sums_exact() {
        use rand::{Rng, SeedableRng};
        let config = crate::config::Config {
            counter_target_rps: 5_000,
            ..crate::config::Config::embedded("unused.db", vec![7; 32])
        };
        let parts = config.counter_parts();
        assert_eq!(parts, 10);
        let store = Recording::new();
        let functions = ["token", "loans", "login", "verify-otp"];
        let start = hour_of(NOW) * 3600 + 3598; // the simulation crosses an hour
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut truth: BTreeMap<String, Figures> = BTreeMap::new();
        let mut per_second: BTreeMap<(i64, String), u64> = BTreeMap::new();
        for i in 0..50_000u32 {
            let now = start + i64::from(i / 5_000);
            let function = functions[rng.gen_range(0..functions.len())];
            let class = [
                StatusClass::Positive,
                StatusClass::Negative,
                StatusClass::Failed,
            ][rng.gen_range(0..3)];
            let ms = 1.0 + rng.gen::<f64>() * 300.0;
            let part = pick_part(parts);
            add_one(&store, function, hour_of(now), part, class, ms)
                .await
                .unwrap();
            // The partition the DynamoDB adapter would write, as the store saw it.
            let partition = store.adds.lock().unwrap().last().cloned().unwrap();
            *per_second.entry((now, partition)).or_default() += 1;
            truth
                .entry(function.into())
                .or_default()
                .add(Some(latency::bucket_of(ms)), Tally::one(class));
        }
        // The model's 500 a second and chance (4.7 standard deviations above it); DynamoDB
        // refuses past 1,000.
        let busiest = per_second.values().copied().max().unwrap();
        let quietest = per_second.values().copied().min().unwrap();
        println!("writes per partition and second: {quietest} to {busiest} (model: 500)");
        assert!(
            busiest <= 600,
            "a partition took {busiest} writes in a second, over the model's 500 and chance"
        );
        assert_eq!(
            per_second.len(),
            10 * 10,
            "every part of every second was written"
        );

        let r = report(&store, start + 10, parts).await.unwrap();
        for (function, figures) in &truth {
            assert_eq!(&r.function(function).all_time, figures, "{function}");
            assert_eq!(&r.function(function).recent, figures, "{function}");
        }
        assert_eq!(r.all_time.tally.requests(), 50_000);
        let partitions: std::collections::BTreeSet<&String> =
            per_second.keys().map(|(_, p)| p).collect();
        assert_eq!(
            partitions.len(),
            20,
            "10 parts of each of the 2 hours the run crosses"
        );
    }

    #[test]
    fn each_answer_is_one_embedded_metric_format_line() {
        let line = emf_line(
            "Fintract/API",
            "loans",
            "loans POST /api/accounts/loans/",
            StatusClass::Failed,
            12.34567,
            true,
            1_700_000_000_000,
        );
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], "Fintract/API");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["Function"], []])
        );
        // Every metric the directive names is a number at the top level, as the format requires.
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name}");
        }
        assert_eq!(v["Function"], "loans");
        assert_eq!(v["Endpoint"], "loans POST /api/accounts/loans/");
        assert_eq!(v["Requests"], 1);
        assert_eq!(v["ServerErrors"], 1);
        assert_eq!(v["ClientErrors"], 0);
        assert_eq!(v["Duration"], 12.346);
        assert_eq!(v["CountsLost"], 1);
    }

    #[test]
    fn only_2xx_4xx_5xx_are_counted() {
        assert_eq!(StatusClass::of(201), Some(StatusClass::Positive));
        assert_eq!(StatusClass::of(404), Some(StatusClass::Negative));
        assert_eq!(StatusClass::of(503), Some(StatusClass::Failed));
        assert_eq!(StatusClass::of(302), None);
    }
}
