//! Timestamps in JSON answers and audit COPY rows, written the way chrono writes them
//! (RFC 3339, UTC, `Z`, fractional seconds in 0, 3, 6 or 9 digits as needed) but
//! without going through `fmt`, one character at a time: a folder listing writes two
//! per row, and chrono's formatting was a tenth of the listing's time.

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use serde::Serializer;

/// `#[serde(serialize_with = "…")]` for `DateTime<Utc>` fields.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match format(at, &mut buf) {
        Some(text) => s.serialize_str(text),
        // A leap second: chrono knows how to show it.
        None => s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    }
}

/// `#[serde(serialize_with = "…")]` for `Option<DateTime<Utc>>` fields (null when none).
pub fn serialize_opt<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, s),
        None => s.serialize_none(),
    }
}

/// Appends `at` as `serialize` writes it.
pub fn push(out: &mut String, at: &DateTime<Utc>) {
    let mut buf = [0u8; 30];
    match format(at, &mut buf) {
        Some(text) => out.push_str(text),
        None => out.push_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    }
}

fn format<'a>(at: &DateTime<Utc>, buf: &'a mut [u8; 30]) -> Option<&'a str> {
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut n = 0;
    let mut put = |value: u32, width: u32| {
        for place in (0..width).rev() {
            buf[n] = b'0' + (value / 10u32.pow(place) % 10) as u8;
            n += 1;
        }
    };
    put(year, 4);
    put(at.month(), 2);
    put(at.day(), 2);
    put(at.hour(), 2);
    put(at.minute(), 2);
    put(at.second(), 2);
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        _ if nanos.is_multiple_of(1_000_000) => (nanos / 1_000_000, 3),
        _ if nanos.is_multiple_of(1_000) => (nanos / 1_000, 6),
        _ => (nanos, 9),
    };
    put(fraction, digits);
    // `yyyymmddhhmmss[fffffffff]` → `yyyy-mm-ddThh:mm:ss[.fffffffff]Z`, back to front.
    let digits = digits as usize;
    let len = 20 + if digits > 0 { digits + 1 } else { 0 };
    buf[len - 1] = b'Z';
    let mut from = 14 + digits;
    let mut to = len - 1;
    let mut copy = |count: usize, then: Option<u8>| {
        for _ in 0..count {
            from -= 1;
            to -= 1;
            buf[to] = buf[from];
        }
        if let Some(separator) = then {
            to -= 1;
            buf[to] = separator;
        }
    };
    if digits > 0 {
        copy(digits, Some(b'.'));
    }
    copy(2, Some(b':'));
    copy(2, Some(b':'));
    copy(2, Some(b'T'));
    copy(2, Some(b'-'));
    copy(2, Some(b'-'));
    std::str::from_utf8(&buf[..len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use proptest::prelude::*;

    fn ours(at: &DateTime<Utc>) -> String {
        serde_json::to_string(&Wrapped(*at)).expect("json")
    }

    #[derive(serde::Serialize)]
    struct Wrapped(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    proptest! {
        #[test]
        fn writes_what_chrono_writes(secs in 0i64..253_402_300_799, nanos in 0u32..1_000_000_000, round in 0u8..4) {
            // Round to whole seconds, milli- and microseconds too, to cover every width.
            let nanos = match round { 0 => 0, 1 => nanos / 1_000_000 * 1_000_000, 2 => nanos / 1_000 * 1_000, _ => nanos };
            let at = Utc.timestamp_opt(secs, nanos).single().expect("valid");
            prop_assert_eq!(ours(&at), serde_json::to_string(&at).expect("json"));
        }
    }

    #[test]
    fn examples() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 9, 5, 7)
            .single()
            .expect("date");
        assert_eq!(ours(&at), "\"2026-11-30T09:05:07Z\"");
        let at = at + chrono::Duration::microseconds(711_017);
        assert_eq!(ours(&at), "\"2026-11-30T09:05:07.711017Z\"");
    }
}
