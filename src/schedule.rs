//! Cron schedules read in a time zone: when a scheduled job (the cloud sync) is due.
//! Five fields (minute to weekday), or six with seconds first.

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A cron expression, or what is wrong with it.
pub fn parse_cron(s: &str) -> Result<Cron, String> {
    Cron::from_str(s).map_err(|e| format!("{s:?} is not a cron expression: {e}."))
}

/// An IANA time zone name (`UTC`, `Europe/Paris`), or what is wrong with it.
pub fn parse_zone(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>()
        .map_err(|_| format!("{s:?} is not a time zone name (such as `UTC` or `Europe/Paris`)."))
}

/// A schedule in its time zone.
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

impl Schedule {
    pub fn new(cron: &str, zone: &str) -> Result<Schedule, String> {
        Ok(Schedule {
            cron: parse_cron(cron)?,
            zone: parse_zone(zone)?,
        })
    }

    /// The latest time at or before `now` the schedule names.
    pub fn latest(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&now.with_timezone(&self.zone), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first time after `now` the schedule names.
    pub fn next(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&now.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn midnight_is_read_in_the_zone() {
        let s = Schedule::new("0 0 * * *", "Europe/Paris").expect("valid");
        // 2026-12-02 10:00 UTC is 11:00 in Paris: the last midnight there was 23:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        assert_eq!(
            s.latest(now),
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap())
        );
        assert_eq!(
            s.next(now),
            Some(Utc.with_ymd_and_hms(2026, 12, 2, 23, 0, 0).unwrap())
        );
        let utc = Schedule::new("0 0 * * *", "UTC").expect("valid");
        assert_eq!(
            utc.latest(now),
            Some(Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn seconds_are_optional_and_garbage_is_refused() {
        assert!(parse_cron("*/5 * * * * *").is_ok());
        assert!(parse_cron("0 0 * * *").is_ok());
        assert!(parse_cron("every night").is_err());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_zone("Mars/Olympus").is_err());
        assert!(parse_zone("UTC").is_ok());
    }
}
