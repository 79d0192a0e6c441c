//! Times as text, through the `time` crate: milliseconds since the Unix epoch shown as
//! `YYYY-MM-DD HH:MM:SS.mmm UTC`, and RFC 3339 times and plain dates read back into
//! milliseconds.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, UtcDateTime};

/// How [`utc`] shows a time.
const SHOWN: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3] UTC");

/// A date alone: midnight UTC.
const DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A date and a time of day with its zone: `T`, `t` or a space between them, the
/// seconds and their fraction optional, `Z`, `z` or `±HH:MM` after.
const DATE_TIME: &[BorrowedFormatItem<'static>] = format_description!(
    version = 2,
    "[year]-[month]-[day][first [T][t][ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]\
     [first [Z][z][[offset_hour sign:mandatory]:[offset_minute]]]"
);

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
///
/// A time after the year 9999 (which no clock gives, but a mistyped value might) is
/// shown as its number of milliseconds: `253402300800000 ms since the epoch`.
pub fn utc(ms: u64) -> String {
    UtcDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(SHOWN).ok())
        .unwrap_or_else(|| format!("{ms} ms since the epoch"))
}

/// An optional time as [`utc`] shows it, or `-`.
pub fn utc_or_dash(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), utc)
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (`2025-03-01T12:00:00Z`,
/// `2025-03-01T13:00:00.250+01:00`; the seconds may be left out, and a space may stand
/// for the `T`) or of a date (`2025-03-01`, midnight UTC). A fraction of a second
/// beyond milliseconds is cut off. `None` for anything else, and for a time before
/// the epoch.
pub fn parse_utc(text: &str) -> Option<u64> {
    let at = match Date::parse(text, DATE) {
        Ok(date) => date.midnight().as_utc(),
        Err(_) => UtcDateTime::parse(text, DATE_TIME).ok()?,
    };
    u64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123 UTC");
        assert_eq!(utc(253_402_300_799_999), "9999-12-31 23:59:59.999 UTC");
        assert_eq!(utc(253_402_300_800_000), "253402300800000 ms since the epoch");
        assert_eq!(utc(u64::MAX), format!("{} ms since the epoch", u64::MAX));
        assert_eq!(utc_or_dash(None), "-");
        assert_eq!(utc_or_dash(Some(0)), "1970-01-01 00:00:00.000 UTC");
    }

    #[test]
    fn read() {
        assert_eq!(parse_utc("1970-01-01"), Some(0));
        assert_eq!(parse_utc("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse_utc("2023-11-14T22:13:20.123Z"), Some(1_700_000_000_123));
        assert_eq!(parse_utc("2023-11-14t22:13:20.123456789z"), Some(1_700_000_000_123));
        assert_eq!(parse_utc("2023-11-14T23:13:20.1+01:00"), Some(1_700_000_000_100));
        assert_eq!(parse_utc("2023-11-14T21:43:20-00:30"), Some(1_700_000_000_000));
        assert_eq!(parse_utc("2023-11-14 22:13Z"), Some(1_699_999_980_000));
        assert_eq!(parse_utc("9999-12-31T23:59:59.999Z"), Some(253_402_300_799_999));
        for bad in [
            "",
            "2023-02-29",
            "2023-13-01",
            "2023-11-31",
            "2023-11-14T",
            "2023-11-14T22:13:20",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:60Z",
            "2023-11-14T22:13:20+0100",
            "2023-11-14T22:13:20Z ",
            "1969-12-31T23:59:59.999Z",
            "tomorrow",
            "1.5",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn what_is_shown_reads_back_as_a_date_time() {
        for ms in [0, 951_782_400_000, 1_700_000_000_123] {
            let shown = utc(ms);
            let rfc3339 = shown.replace(" UTC", "Z");
            assert_eq!(parse_utc(&rfc3339), Some(ms), "{shown}");
        }
    }
}
