//! UTC calendar times for labels, `metrics.json` and API answers, without a date-time dependency.

/// A moment in UTC, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Utc {
    /// The calendar time of a Unix time (days-from-civil inverted, proleptic Gregorian).
    pub fn of(unix: i64) -> Self {
        let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (secs / 3_600) as u32,
            minute: (secs % 3_600 / 60) as u32,
            second: (secs % 60) as u32,
        }
    }

    /// `2023-11-14T22:13:20Z`
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2023-11-14 22:13 UTC`, for people.
    pub fn readable(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_become_calendar_times() {
        assert_eq!(Utc::of(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Utc::of(951_782_400).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Utc::of(1_700_000_000).rfc3339(), "2023-11-14T22:13:20Z");
        assert_eq!(Utc::of(1_709_251_199).rfc3339(), "2024-02-29T23:59:59Z");
        assert_eq!(Utc::of(-1).rfc3339(), "1969-12-31T23:59:59Z");
        assert_eq!(Utc::of(1_700_000_000).readable(), "2023-11-14 22:13 UTC");
    }
}
