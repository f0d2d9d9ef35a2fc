//! Query-string parsing shared by the query APIs: Go durations (`100ms`, `1.5s`), RFC 3339
//! times, and repeated parameters.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ApiError;

/// A query string as its decoded `(name, value)` pairs, in order.
pub(crate) fn pairs(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The last non-empty value of `name`.
pub(crate) fn last<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

/// The last non-empty value of `name`, which the request must have.
pub(crate) fn required<'a>(
    params: &'a [(String, String)],
    name: &str,
) -> Result<&'a str, ApiError> {
    last(params, name).ok_or_else(|| ApiError::missing(name))
}

/// Every non-empty value of `name`, in order.
pub(crate) fn all<'a>(
    params: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> {
    params
        .iter()
        .filter(move |(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

/// The value of `name` as a non-negative whole number.
pub(crate) fn number(params: &[(String, String)], name: &str) -> Result<Option<u64>, ApiError> {
    last(params, name)
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "{name} {text:?} is not a non-negative whole number"
                ))
            })
        })
        .transpose()
}

/// The value of `name` as a Go duration, in nanoseconds.
pub(crate) fn duration(params: &[(String, String)], name: &str) -> Result<Option<u64>, ApiError> {
    last(params, name)
        .map(|text| {
            go_duration_nanos(text).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{name} {text:?} is not a duration such as 100ms, 1.5s or 2m"
                ))
            })
        })
        .transpose()
}

/// The value of `name` as an RFC 3339 time, in nanoseconds since the Unix epoch.
pub(crate) fn time(params: &[(String, String)], name: &str) -> Result<Option<u64>, ApiError> {
    last(params, name)
        .map(|text| {
            rfc3339_nanos(text).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{name} {text:?} is not an RFC 3339 time such as 2024-05-01T12:00:00.5Z, at or after 1970"
                ))
            })
        })
        .transpose()
}

/// Now, in nanoseconds since the Unix epoch.
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A non-negative Go duration (`time.ParseDuration`): a sequence of decimal numbers, each
/// with an optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or `0`.
pub(crate) fn go_duration_nanos(text: &str) -> Option<u64> {
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(digits);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let n = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(n)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        total = total.checked_add(whole.checked_mul(unit)?)?;
        // the fraction to the nanosecond, the rest of its digits dropped as Go does
        let mut scale = unit;
        for digit in fraction.bytes() {
            if scale < 10 {
                break;
            }
            scale /= 10;
            total += u128::from(digit - b'0') * scale;
        }
        rest = after;
    }
    u64::try_from(total).ok()
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// An RFC 3339 time (`2024-05-01T12:00:00Z`, with an optional fraction of a second and a
/// `Z` or `±hh:mm` offset) in nanoseconds since the Unix epoch; `None` when malformed or
/// before 1970.
pub(crate) fn rfc3339_nanos(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day == 0
        || day > month_days[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos: u64 = 0;
    if bytes[at] == b'.' {
        at += 1;
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            if at - start < 9 {
                nanos = nanos * 10 + u64::from(bytes[at] - b'0');
            }
            at += 1;
        }
        let len = at - start;
        if len == 0 {
            return None;
        }
        for _ in len..9 {
            nanos *= 10;
        }
    }
    let offset_seconds: i64 = match &text[at..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':' =>
        {
            let (h, m) = (digits(at + 1..at + 3)?, digits(at + 4..at + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = i64::from(h * 3600 + m * 60);
            if zone.starts_with('-') {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    let seconds = u64::try_from(seconds).ok()?;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_nanos("100ms"), Some(100_000_000));
        assert_eq!(go_duration_nanos("1.5s"), Some(1_500_000_000));
        assert_eq!(go_duration_nanos("2m"), Some(120_000_000_000));
        assert_eq!(go_duration_nanos("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos("250us"), Some(250_000));
        assert_eq!(go_duration_nanos("250µs"), Some(250_000));
        assert_eq!(go_duration_nanos(".5ms"), Some(500_000));
        assert_eq!(go_duration_nanos("7ns"), Some(7));
        assert_eq!(go_duration_nanos("0"), Some(0));
        assert_eq!(go_duration_nanos("1.0000000001s"), Some(1_000_000_000));
        for bad in ["", "100", "ms", "1x", "-1s", "1.s5", "1..5s", "s1", "."] {
            assert_eq!(go_duration_nanos(bad), None, "{bad}");
        }
        assert_eq!(go_duration_nanos("99999999999999h"), None);
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_nanos("2024-05-01T12:00:00.5Z"),
            Some(1_714_564_800_500_000_000)
        );
        assert_eq!(
            rfc3339_nanos("2024-05-01T14:00:00.000000001+02:00"),
            Some(1_714_564_800_000_000_001)
        );
        assert_eq!(
            rfc3339_nanos("2000-02-29T00:00:00-00:30"),
            Some(951_784_200_000_000_000)
        );
        for bad in [
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T12:00:00.Z",
            "1969-12-31T23:59:59Z",
            "2024-05-01T12:00:00+2:00",
            "1714564800",
        ] {
            assert_eq!(rfc3339_nanos(bad), None, "{bad}");
        }
    }
}
