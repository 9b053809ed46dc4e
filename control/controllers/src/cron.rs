//! Cron schedules as CronJobs spell them: the five standard fields (minute, hour, day of month,
//! month, day of week), the `@yearly`-style descriptors, `@every <duration>`, and a time zone
//! given by a `CRON_TZ=` / `TZ=` prefix or by `spec.timeZone`.
//!
//! Kubernetes parses schedules with robfig/cron's standard parser; the rules here follow its
//! documented behaviour, with one addition: a day of week of `7` means Sunday, as in Vixie cron
//! and crontab(5), where robfig's parser would refuse it.
//!
//! - `*` and `?` match every value. `a-b` is a range, `a/n` means `a-max/n`, `*/n` and `a-b/n`
//!   step through a range, `,` separates alternatives. Month (`jan`..`dec`) and weekday
//!   (`sun`..`sat`) names are accepted in any case, also as range ends.
//! - When both the day of month and the day of week are restricted (neither is a plain `*` or
//!   `?`), a day matches if *either* does; otherwise both must (a stepped `*/2` counts as
//!   restricted, as in robfig/cron).
//! - Times are walked in the schedule's zone: a wall-clock time that a daylight-saving jump
//!   skips does not fire, one that is repeated fires at both instants (robfig/cron steps through
//!   absolute time and so matches both). The search gives up five years ahead (a schedule such
//!   as `0 0 30 2 *` never fires).
//!
//! Time zones come from the system's zoneinfo files (`/usr/share/zoneinfo`, or `$ZONEINFO`)
//! through jiff; `UTC` and `Etc/UTC` need no files.
//!
//! The input is untrusted (any user can create a CronJob), so parsing never panics and every
//! walk is bounded; the tests at the bottom throw random and mutated strings at it.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};

/// Why a schedule or a time zone was refused. The messages name the offending text so that a
/// CronJob's events say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("empty spec string")]
    Empty,
    #[error("expected exactly 5 fields, found {found}: {spec:?}")]
    FieldCount { found: usize, spec: String },
    #[error("unrecognized descriptor: {0}")]
    UnknownDescriptor(String),
    #[error("{field}: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
    #[error("failed to parse duration {spec}: {problem}")]
    Duration { spec: String, problem: String },
    #[error("unknown time zone {name:?}: {problem}")]
    TimeZone { name: String, problem: String },
    #[error("a time zone prefix must be followed by a schedule: {0:?}")]
    TimeZoneWithoutSchedule(String),
}

/// One field's bounds and names.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
/// Names are matched by position: `jan` is `min + 0`.
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// 0 and 7 are both Sunday; 7 is folded onto 0 after parsing.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// A parsed field: bit `v` set when value `v` matches; `star` when it was a plain `*` or `?`
/// (which matters only for the day-of-month / day-of-week rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    bits: u64,
    star: bool,
}

impl Field {
    fn has(self, v: u32) -> bool {
        v < 64 && self.bits & (1 << v) != 0
    }
}

fn field_error(spec: &FieldSpec, problem: String) -> ScheduleError {
    ScheduleError::Field {
        field: spec.name,
        problem,
    }
}

/// A number or (for months and weekdays) a name.
fn value(text: &str, spec: &FieldSpec, whole: &str) -> Result<u32, ScheduleError> {
    if let Some(i) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(spec.min + i as u32);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(field_error(
            spec,
            format!("failed to parse {text:?} in {whole:?}: not a number"),
        ));
    }
    text.parse::<u32>().map_err(|_| {
        field_error(
            spec,
            format!(
                "{text:?} in {whole:?} is out of range {}-{}",
                spec.min, spec.max
            ),
        )
    })
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<Field, ScheduleError> {
    let mut field = Field {
        bits: 0,
        star: false,
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                if s.contains('/') {
                    return Err(field_error(spec, format!("too many slashes: {part:?}")));
                }
                let step = value(
                    s,
                    &FieldSpec {
                        names: &[],
                        ..*spec
                    },
                    part,
                )?;
                if step == 0 {
                    return Err(field_error(
                        spec,
                        format!("step of range should be a positive number: {part:?}"),
                    ));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (start, end, star) = if range == "*" || range == "?" {
            (spec.min, spec.max, step.is_none_or(|s| s == 1))
        } else {
            let (lo, hi) = match range.split_once('-') {
                Some((lo, hi)) => {
                    if hi.contains('-') {
                        return Err(field_error(spec, format!("too many hyphens: {part:?}")));
                    }
                    (value(lo, spec, part)?, Some(value(hi, spec, part)?))
                }
                None => (value(range, spec, part)?, None),
            };
            // `a/n` is `a-max/n`.
            let hi = hi.unwrap_or(if step.is_some() { spec.max } else { lo });
            (lo, hi, false)
        };
        if start < spec.min {
            return Err(field_error(
                spec,
                format!(
                    "beginning of range ({start}) below minimum ({}): {part:?}",
                    spec.min
                ),
            ));
        }
        if end > spec.max {
            return Err(field_error(
                spec,
                format!(
                    "end of range ({end}) above maximum ({}): {part:?}",
                    spec.max
                ),
            ));
        }
        if start > end {
            return Err(field_error(
                spec,
                format!("beginning of range ({start}) beyond end of range ({end}): {part:?}"),
            ));
        }
        let step = step.unwrap_or(1);
        let mut v = start;
        while v <= end {
            field.bits |= 1 << v;
            v = match v.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
        field.star |= star;
    }
    Ok(field)
}

/// The five standard fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    minute: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
}

impl Fields {
    fn parse(text: &str) -> Result<Fields, ScheduleError> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(ScheduleError::FieldCount {
                found: parts.len(),
                spec: text.to_owned(),
            });
        }
        let mut dow = parse_field(parts[4], &DAY_OF_WEEK)?;
        if dow.has(7) {
            dow.bits = (dow.bits & !(1 << 7)) | 1;
        }
        Ok(Fields {
            minute: parse_field(parts[0], &MINUTE)?,
            hour: parse_field(parts[1], &HOUR)?,
            dom: parse_field(parts[2], &DAY_OF_MONTH)?,
            month: parse_field(parts[3], &MONTH)?,
            dow,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.dom.has(d.day() as u32);
        let dow = self.dow.has(d.weekday().to_sunday_zero_offset() as u32);
        if self.dom.star || self.dow.star {
            dom && dow
        } else {
            dom || dow
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Fields(Fields),
    /// `@every`: a fixed interval, in whole seconds and at least one.
    Every(SignedDuration),
}

/// A parsed schedule with its time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    kind: Kind,
    tz: TimeZone,
    tz_name: String,
}

/// How far [`Schedule::next_after`] and [`Schedule::prev_at_or_before`] look, as robfig/cron
/// does: a schedule that has not fired in five years never will.
const SEARCH_YEARS: i16 = 5;

/// Resolves an IANA time zone name. Only names of the IANA shape are looked up (letters,
/// digits, `/`, `_`, `+`, `-`, no `..`), so a CronJob cannot make the controller open arbitrary
/// files.
pub fn time_zone(name: &str) -> Result<TimeZone, ScheduleError> {
    let err = |problem: &str| ScheduleError::TimeZone {
        name: name.to_owned(),
        problem: problem.to_owned(),
    };
    match name {
        "" | "UTC" | "Etc/UTC" => return Ok(TimeZone::UTC),
        _ => {}
    }
    if name.eq_ignore_ascii_case("local") {
        return Err(err(
            "an explicit time zone as defined in https://www.iana.org/time-zones is required",
        ));
    }
    let shaped = name.len() <= 255
        && !name.starts_with('/')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'+' | b'-'));
    if !shaped {
        return Err(err("not a time zone name"));
    }
    TimeZone::get(name).map_err(|e| err(&e.to_string()))
}

/// Parses Go's duration syntax (`1h30m`, `90s`, `1.5h`) as `@every` takes it.
fn go_duration(text: &str) -> Result<SignedDuration, String> {
    let mut rest = text;
    let negative = rest.starts_with('-');
    rest = rest.trim_start_matches(['-', '+']);
    if rest == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(format!("invalid number in {text:?}"));
        }
        let n: f64 = number
            .parse()
            .map_err(|_| format!("invalid number in {text:?}"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {text:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        rest = &rest[unit_len..];
        total += n * nanos_per;
        if !total.is_finite() || total > i64::MAX as f64 {
            return Err(format!("invalid duration {text:?}: too large"));
        }
    }
    let nanos = total as i64;
    Ok(SignedDuration::from_nanos(if negative {
        -nanos
    } else {
        nanos
    }))
}

fn descriptor(name: &str) -> Option<&'static str> {
    Some(match name {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

impl Schedule {
    /// Parses `spec` (which may carry a `CRON_TZ=` or `TZ=` prefix); times are in UTC unless
    /// the prefix names a zone.
    pub fn parse(spec: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse_in(spec, None)
    }

    /// Parses a CronJob's schedule with its `spec.timeZone`. Kubernetes combines the two as a
    /// `TZ=` prefix, so a schedule that carries its own prefix keeps it.
    pub fn parse_in(spec: &str, time_zone_name: Option<&str>) -> Result<Schedule, ScheduleError> {
        let trimmed = spec.trim();
        if trimmed.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let (zone_name, rest) = if let Some(after) = trimmed
            .strip_prefix("CRON_TZ=")
            .or_else(|| trimmed.strip_prefix("TZ="))
        {
            let Some(space) = after.find(char::is_whitespace) else {
                return Err(ScheduleError::TimeZoneWithoutSchedule(trimmed.to_owned()));
            };
            (after[..space].to_owned(), after[space..].trim())
        } else {
            (time_zone_name.unwrap_or("").to_owned(), trimmed)
        };
        let tz = time_zone(&zone_name)?;
        let tz_name = if zone_name.is_empty() {
            "UTC".to_owned()
        } else {
            zone_name
        };
        let kind = if let Some(every) = rest.strip_prefix("@every ") {
            let every = every.trim();
            let d = go_duration(every).map_err(|problem| ScheduleError::Duration {
                spec: rest.to_owned(),
                problem,
            })?;
            // Whole seconds, and never less than one: the interval cannot be shorter than the
            // time resolution of the schedule.
            let secs = d.as_secs().max(1);
            Kind::Every(SignedDuration::from_secs(secs))
        } else if rest.starts_with('@') {
            let fields = descriptor(rest)
                .ok_or_else(|| ScheduleError::UnknownDescriptor(rest.to_owned()))?;
            Kind::Fields(Fields::parse(fields)?)
        } else {
            Kind::Fields(Fields::parse(rest)?)
        };
        Ok(Schedule { kind, tz, tz_name })
    }

    /// The time zone the schedule is read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The instants a wall-clock time stands for: none in a gap, two in a fold.
    fn instants(&self, dt: DateTime) -> Vec<Timestamp> {
        let ts = |o: jiff::tz::Offset| o.to_timestamp(dt).ok();
        match self.tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => ts(offset).into_iter().collect(),
            AmbiguousOffset::Gap { .. } => Vec::new(),
            AmbiguousOffset::Fold { before, after } => {
                ts(before).into_iter().chain(ts(after)).collect()
            }
        }
    }

    fn in_fold(&self, dt: DateTime) -> bool {
        matches!(
            self.tz.to_ambiguous_timestamp(dt).offset(),
            AmbiguousOffset::Fold { .. }
        )
    }

    /// The first time the schedule fires strictly after `t`, or `None` when it does not fire
    /// in the next five years.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let fields = match &self.kind {
            Kind::Every(d) => {
                let whole = Timestamp::from_second(t.as_second()).ok()?;
                return whole.checked_add(*d).ok();
            }
            Kind::Fields(f) => f,
        };
        let local = self.tz.to_datetime(t);
        let minute = local.with().second(0).subsec_nanosecond(0).build().ok()?;
        // Inside a repeated hour, the wall clock has already shown times that are still to
        // come; start early enough to see them and let the instant comparison filter.
        let mut dt = if self.in_fold(minute) {
            minute.checked_sub(2.hours()).ok()?
        } else {
            minute.checked_add(1.minute()).ok()?
        };
        let limit = local.year().saturating_add(SEARCH_YEARS);
        // Each step moves to the next candidate month, day, hour or minute, so a five-year
        // search takes a few thousand steps at most; the cap is a second line of defence.
        for _ in 0..2_000_000 {
            if dt.year() > limit {
                return None;
            }
            if !fields.month.has(dt.month() as u32) {
                let next_month = dt.date().first_of_month().checked_add(1.month()).ok()?;
                dt = next_month.to_datetime(Time::midnight());
                continue;
            }
            if !fields.day_matches(dt.date()) {
                dt = dt.date().tomorrow().ok()?.to_datetime(Time::midnight());
                continue;
            }
            if !fields.hour.has(dt.hour() as u32) {
                let hour = dt.with().minute(0).build().ok()?;
                dt = hour.checked_add(1.hour()).ok()?;
                continue;
            }
            if !fields.minute.has(dt.minute() as u32) {
                dt = dt.checked_add(1.minute()).ok()?;
                continue;
            }
            if let Some(found) = self.instants(dt).into_iter().find(|i| *i > t) {
                return Some(found);
            }
            dt = dt.checked_add(1.minute()).ok()?;
        }
        None
    }

    /// The last time the schedule fired at or before `t`, or `None` when it did not fire in
    /// the five years before. `@every` has no fixed phase, so it has no answer.
    pub fn prev_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        let Kind::Fields(fields) = &self.kind else {
            return None;
        };
        let local = self.tz.to_datetime(t);
        let minute = local.with().second(0).subsec_nanosecond(0).build().ok()?;
        let mut dt = if self.in_fold(minute) {
            minute.checked_add(2.hours()).ok()?
        } else {
            minute
        };
        let limit = local.year().saturating_sub(SEARCH_YEARS);
        for _ in 0..2_000_000 {
            if dt.year() < limit {
                return None;
            }
            if !fields.month.has(dt.month() as u32) {
                dt = dt
                    .date()
                    .first_of_month()
                    .to_datetime(Time::midnight())
                    .checked_sub(1.minute())
                    .ok()?;
                continue;
            }
            if !fields.day_matches(dt.date()) {
                dt = dt
                    .date()
                    .to_datetime(Time::midnight())
                    .checked_sub(1.minute())
                    .ok()?;
                continue;
            }
            if !fields.hour.has(dt.hour() as u32) {
                dt = dt
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_sub(1.minute())
                    .ok()?;
                continue;
            }
            if !fields.minute.has(dt.minute() as u32) {
                dt = dt.checked_sub(1.minute()).ok()?;
                continue;
            }
            if let Some(found) = self.instants(dt).into_iter().rev().find(|i| *i <= t) {
                return Some(found);
            }
            dt = dt.checked_sub(1.minute()).ok()?;
        }
        None
    }

    /// The schedule times in `(after, until]`: how many there are (counting stops at
    /// `count_limit + 1`, enough to tell "more than the limit") and the latest one.
    pub fn times_between(
        &self,
        after: Timestamp,
        until: Timestamp,
        count_limit: usize,
    ) -> (usize, Option<Timestamp>) {
        let Some(first) = self.next_after(after).filter(|t| *t <= until) else {
            return (0, None);
        };
        if let Kind::Every(d) = &self.kind {
            let steps = until.duration_since(first).as_secs() / d.as_secs().max(1);
            let offset = steps
                .checked_mul(d.as_secs())
                .map(SignedDuration::from_secs)
                .unwrap_or(SignedDuration::ZERO);
            let latest = first.checked_add(offset).ok();
            let count = usize::try_from(steps)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            return (count.min(count_limit + 1), latest);
        }
        let latest = self.prev_at_or_before(until).filter(|t| *t > after);
        let mut count = 1;
        let mut t = first;
        while count <= count_limit {
            match self.next_after(t) {
                Some(n) if n <= until => {
                    count += 1;
                    t = n;
                }
                _ => break,
            }
        }
        (count, latest.or(Some(first)))
    }

    /// `t` formatted as Go's RFC 3339 in the schedule's zone (`Z` for a zero offset), as
    /// Kubernetes writes the scheduled-timestamp annotation.
    pub fn format_rfc3339(&self, t: Timestamp) -> String {
        let zoned = t.to_zoned(self.tz.clone());
        if zoned.offset().seconds() == 0 {
            zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        } else {
            zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::ts;

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec)
            .unwrap()
            .next_after(ts(after))
            .map(|t| t.to_string())
            .unwrap_or_else(|| "never".into())
    }

    fn prev(spec: &str, at: &str) -> String {
        Schedule::parse(spec)
            .unwrap()
            .prev_at_or_before(ts(at))
            .map(|t| t.to_string())
            .unwrap_or_else(|| "never".into())
    }

    fn err(spec: &str) -> String {
        Schedule::parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn every_minute_fires_at_the_next_whole_minute_strictly_after() {
        assert_eq!(
            next("* * * * *", "2024-05-01T12:00:00Z"),
            "2024-05-01T12:01:00Z"
        );
        assert_eq!(
            next("* * * * *", "2024-05-01T12:00:59.9Z"),
            "2024-05-01T12:01:00Z"
        );
        assert_eq!(
            next("*/1 * * * *", "2024-05-01T12:00:30Z"),
            "2024-05-01T12:01:00Z"
        );
    }

    #[test]
    fn steps_ranges_and_lists() {
        assert_eq!(
            next("*/15 * * * *", "2024-05-01T12:00:00Z"),
            "2024-05-01T12:15:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2024-05-01T12:50:00Z"),
            "2024-05-01T13:00:00Z"
        );
        assert_eq!(
            next("1-30/5 * * * *", "2024-05-01T12:27:00Z"),
            "2024-05-01T13:01:00Z"
        );
        assert_eq!(
            next("1-30/5 * * * *", "2024-05-01T12:21:00Z"),
            "2024-05-01T12:26:00Z"
        );
        assert_eq!(
            next("5,10 3 * * *", "2024-05-01T03:05:00Z"),
            "2024-05-01T03:10:00Z"
        );
        assert_eq!(
            next("5,10 3 * * *", "2024-05-01T03:10:00Z"),
            "2024-05-02T03:05:00Z"
        );
        // `a/n` runs from a to the maximum.
        assert_eq!(
            next("50/4 * * * *", "2024-05-01T12:55:00Z"),
            "2024-05-01T12:58:00Z"
        );
    }

    #[test]
    fn month_and_weekday_names_in_any_case() {
        // 2024-05-01 is a Wednesday.
        assert_eq!(
            next("0 9 * * MON-fri", "2024-05-03T10:00:00Z"),
            "2024-05-06T09:00:00Z"
        );
        assert_eq!(
            next("0 0 1 jun,Dec *", "2024-05-01T00:00:00Z"),
            "2024-06-01T00:00:00Z"
        );
        assert_eq!(
            next("0 0 1 jul-aug *", "2024-09-01T00:00:00Z"),
            "2025-07-01T00:00:00Z"
        );
    }

    #[test]
    fn seven_and_zero_are_sunday() {
        assert_eq!(
            next("0 0 * * 7", "2024-05-01T00:00:00Z"),
            "2024-05-05T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 0", "2024-05-01T00:00:00Z"),
            "2024-05-05T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 5-7", "2024-05-04T01:00:00Z"),
            "2024-05-05T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 5-7", "2024-05-01T01:00:00Z"),
            "2024-05-03T00:00:00Z"
        );
    }

    #[test]
    fn question_mark_is_star() {
        assert_eq!(
            Schedule::parse("0 0 ? * MON").unwrap(),
            Schedule::parse("0 0 * * MON").unwrap()
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_are_restricted() {
        // The 13th (a Monday in May 2024) or any Friday.
        assert_eq!(
            next("0 0 13 * 5", "2024-05-01T00:00:00Z"),
            "2024-05-03T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * 5", "2024-05-11T00:00:00Z"),
            "2024-05-13T00:00:00Z"
        );
        // With a star in one of them, both must hold: Friday the 13th.
        assert_eq!(
            next("0 0 13 * *", "2024-05-01T00:00:00Z"),
            "2024-05-13T00:00:00Z"
        );
        assert_eq!(
            next("0 0 */1 * 5", "2024-05-01T00:00:00Z"),
            "2024-05-03T00:00:00Z"
        );
        // A stepped star counts as restricted: the 1st, 3rd, ... or Fridays.
        assert_eq!(
            next("0 0 */2 * 5", "2024-05-01T01:00:00Z"),
            "2024-05-03T00:00:00Z"
        );
        assert_eq!(
            next("0 0 */2 * 1", "2024-05-01T01:00:00Z"),
            "2024-05-03T00:00:00Z"
        );
    }

    #[test]
    fn descriptors() {
        let at = "2024-05-01T12:30:00Z";
        assert_eq!(next("@yearly", at), "2025-01-01T00:00:00Z");
        assert_eq!(next("@annually", at), "2025-01-01T00:00:00Z");
        assert_eq!(next("@monthly", at), "2024-06-01T00:00:00Z");
        assert_eq!(next("@weekly", at), "2024-05-05T00:00:00Z");
        assert_eq!(next("@daily", at), "2024-05-02T00:00:00Z");
        assert_eq!(next("@midnight", at), "2024-05-02T00:00:00Z");
        assert_eq!(next("@hourly", at), "2024-05-01T13:00:00Z");
        assert_eq!(next("@every 90s", at), "2024-05-01T12:31:30Z");
        assert_eq!(
            next("@every 1h30m", "2024-05-01T12:30:00.5Z"),
            "2024-05-01T14:00:00Z"
        );
    }

    #[test]
    fn impossible_dates_never_fire_and_leap_days_do() {
        assert_eq!(next("0 0 30 2 *", "2024-05-01T00:00:00Z"), "never");
        assert_eq!(
            next("0 0 29 2 *", "2024-05-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(prev("0 0 30 2 *", "2024-05-01T00:00:00Z"), "never");
    }

    #[test]
    fn previous_firing_includes_the_instant_itself() {
        assert_eq!(
            prev("*/15 * * * *", "2024-05-01T12:15:00Z"),
            "2024-05-01T12:15:00Z"
        );
        assert_eq!(
            prev("*/15 * * * *", "2024-05-01T12:14:59Z"),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(
            prev("0 9 * * mon-fri", "2024-05-05T12:00:00Z"),
            "2024-05-03T09:00:00Z"
        );
        assert_eq!(
            prev("0 0 1 1 *", "2024-05-01T00:00:00Z"),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            prev("59 23 31 12 *", "2024-05-01T00:00:00Z"),
            "2023-12-31T23:59:00Z"
        );
    }

    #[test]
    fn times_between_counts_and_finds_the_latest() {
        let s = Schedule::parse("* * * * *").unwrap();
        let (n, latest) =
            s.times_between(ts("2024-05-01T12:00:00Z"), ts("2024-05-01T12:05:30Z"), 100);
        assert_eq!(n, 5);
        assert_eq!(latest, Some(ts("2024-05-01T12:05:00Z")));
        let (n, latest) =
            s.times_between(ts("2024-05-01T12:00:00Z"), ts("2024-05-02T12:00:00Z"), 100);
        assert_eq!(n, 101, "counting stops just past the limit");
        assert_eq!(latest, Some(ts("2024-05-02T12:00:00Z")));
        let (n, latest) =
            s.times_between(ts("2024-05-01T12:00:00Z"), ts("2024-05-01T12:00:59Z"), 100);
        assert_eq!((n, latest), (0, None));
        // Irregular gaps: the latest is exact, not estimated from the first interval.
        let irregular = Schedule::parse("0,1 9 * * *").unwrap();
        let (_, latest) =
            irregular.times_between(ts("2024-05-01T09:00:30Z"), ts("2024-05-04T08:00:00Z"), 100);
        assert_eq!(latest, Some(ts("2024-05-03T09:01:00Z")));
        let every = Schedule::parse("@every 10m").unwrap();
        let (n, latest) =
            every.times_between(ts("2024-05-01T12:00:00Z"), ts("2024-05-01T12:35:00Z"), 100);
        assert_eq!((n, latest), (3, Some(ts("2024-05-01T12:30:00Z"))));
    }

    #[test]
    fn clear_errors() {
        assert_eq!(err(""), "empty spec string");
        assert_eq!(
            err("* * * *"),
            "expected exactly 5 fields, found 4: \"* * * *\""
        );
        assert_eq!(
            err("* * * * * *"),
            "expected exactly 5 fields, found 6: \"* * * * * *\""
        );
        assert!(err("60 * * * *").contains("minute: end of range (60) above maximum (59)"));
        assert!(err("* 24 * * *").contains("hour: end of range (24) above maximum (23)"));
        assert!(err("* * 0 * *").contains("day of month: beginning of range (0) below minimum (1)"));
        assert!(err("* * * 13 *").contains("month: end of range (13) above maximum (12)"));
        assert!(err("* * * * 8").contains("day of week: end of range (8) above maximum (7)"));
        assert!(err("5-1 * * * *").contains("beginning of range (5) beyond end of range (1)"));
        assert!(err("*/0 * * * *").contains("step of range should be a positive number"));
        assert!(err("1-2-3 * * * *").contains("too many hyphens"));
        assert!(err("*/2/3 * * * *").contains("too many slashes"));
        assert!(err("x * * * *").contains("failed to parse \"x\""));
        assert!(err("* * * foo *").contains("month: failed to parse \"foo\""));
        assert!(err("99999999999 * * * *").contains("out of range"));
        assert_eq!(err("@fortnightly"), "unrecognized descriptor: @fortnightly");
        assert!(err("@every 5 minutes").starts_with("failed to parse duration"));
        assert!(err("TZ=UTC").contains("must be followed by a schedule"));
        assert!(
            err("CRON_TZ=Mars/Olympus * * * * *").starts_with("unknown time zone \"Mars/Olympus\"")
        );
        assert!(err("TZ=../../etc/passwd * * * * *").contains("not a time zone name"));
        assert!(err("TZ=Local * * * * *").contains("explicit time zone"));
    }

    fn zoneinfo_available() -> bool {
        time_zone("America/New_York").is_ok()
    }

    #[test]
    fn time_zone_prefixes_and_spec_time_zone() {
        if !zoneinfo_available() {
            eprintln!("no zoneinfo on this machine; zone lookups report unknown zones");
            assert!(Schedule::parse_in("0 9 * * *", Some("Europe/Berlin")).is_err());
            return;
        }
        // 09:00 in Berlin (CEST, +02:00) is 07:00 UTC.
        let berlin = Schedule::parse_in("0 9 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            berlin.next_after(ts("2024-05-01T00:00:00Z")),
            Some(ts("2024-05-01T07:00:00Z"))
        );
        assert_eq!(
            berlin.format_rfc3339(ts("2024-05-01T07:00:00Z")),
            "2024-05-01T09:00:00+02:00"
        );
        for spec in [
            "CRON_TZ=Europe/Berlin 0 9 * * *",
            "TZ=Europe/Berlin 0 9 * * *",
        ] {
            assert_eq!(Schedule::parse(spec).unwrap(), berlin);
        }
        // A prefix in the schedule wins over spec.timeZone.
        assert_eq!(
            Schedule::parse_in("TZ=Europe/Berlin 0 9 * * *", Some("Asia/Tokyo")).unwrap(),
            berlin
        );
        let utc = Schedule::parse("0 9 * * *").unwrap();
        assert_eq!(
            utc.format_rfc3339(ts("2024-05-01T09:00:00Z")),
            "2024-05-01T09:00:00Z"
        );
    }

    #[test]
    fn daylight_saving_gaps_skip_and_folds_repeat() {
        if !zoneinfo_available() {
            return;
        }
        let ny = |spec: &str| Schedule::parse_in(spec, Some("America/New_York")).unwrap();
        // 2024-03-10 02:30 does not exist in New York: the next 02:30 is on the 11th (EDT).
        assert_eq!(
            ny("30 2 * * *").next_after(ts("2024-03-10T05:00:00Z")),
            Some(ts("2024-03-11T06:30:00Z"))
        );
        // 2024-11-03 01:30 happens twice: at 05:30Z (EDT) and 06:30Z (EST).
        let s = ny("30 1 * * *");
        assert_eq!(
            s.next_after(ts("2024-11-03T05:00:00Z")),
            Some(ts("2024-11-03T05:30:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2024-11-03T05:30:00Z")),
            Some(ts("2024-11-03T06:30:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2024-11-03T05:45:00Z")),
            Some(ts("2024-11-03T06:30:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2024-11-03T06:30:00Z")),
            Some(ts("2024-11-04T06:30:00Z"))
        );
        assert_eq!(
            s.prev_at_or_before(ts("2024-11-03T06:15:00Z")),
            Some(ts("2024-11-03T05:30:00Z"))
        );
        assert_eq!(
            s.prev_at_or_before(ts("2024-11-03T06:45:00Z")),
            Some(ts("2024-11-03T06:30:00Z"))
        );
    }

    #[test]
    fn next_and_prev_agree_on_many_schedules() {
        let specs = [
            "* * * * *",
            "*/7 */5 * * *",
            "0 9 * * mon-fri",
            "15 3 1,15 * *",
            "0 0 13 * 5",
            "30 4 29 2 *",
            "@weekly",
        ];
        let mut t = ts("2023-12-30T22:17:31Z");
        for spec in specs {
            let s = Schedule::parse(spec).unwrap();
            for _ in 0..15 {
                let n = s.next_after(t).unwrap();
                assert!(n > t, "{spec}: {n} after {t}");
                assert_eq!(s.prev_at_or_before(n), Some(n), "{spec}");
                let just_before = n.checked_sub(SignedDuration::from_secs(1)).unwrap();
                let p = s.prev_at_or_before(just_before);
                assert!(
                    p.is_none_or(|p| p <= t || s.next_after(p) == Some(n)),
                    "{spec}"
                );
                t = n;
            }
        }
    }

    /// A small deterministic PRNG (xorshift64*), so failures name a reproducible seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const PIECES: &[&str] = &[
        "*",
        "?",
        "/",
        "-",
        ",",
        " ",
        "  ",
        "\t",
        "0",
        "1",
        "5",
        "7",
        "12",
        "23",
        "31",
        "59",
        "60",
        "99999999999999999999",
        "jan",
        "DEC",
        "mon",
        "sun",
        "@",
        "@every",
        "@daily",
        "@yearly",
        "TZ=",
        "CRON_TZ=",
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "../",
        "ms",
        "h",
        "1.5",
        "-1",
        "é",
        "\u{0}",
        "\u{202e}",
        "=",
        "%",
        "..",
        "2h45m",
        "9223372036854775807s",
    ];

    fn random_spec(rng: &mut Rng) -> String {
        let n = rng.below(14);
        (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect()
    }

    fn mutate(rng: &mut Rng, base: &str) -> String {
        let mut chars: Vec<char> = base.chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(chars.len() + 1);
            match rng.below(4) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 => chars.insert(at, (rng.below(95) as u8 + 32) as char),
                2 => {
                    for c in PIECES[rng.below(PIECES.len())].chars().rev() {
                        chars.insert(at.min(chars.len()), c);
                    }
                }
                _ if at < chars.len() => chars[at] = (rng.below(95) as u8 + 32) as char,
                _ => {}
            }
        }
        chars.into_iter().collect()
    }

    /// Every parsed schedule must answer `next_after` / `prev_at_or_before` without panicking,
    /// and its answers must be consistent.
    fn exercise(spec: &str, tz: Option<&str>) {
        let Ok(s) = Schedule::parse_in(spec, tz) else {
            return;
        };
        for at in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "9990-12-31T23:00:00Z",
            "-009990-01-01T00:00:00Z",
        ] {
            let t = ts(at);
            if let Some(n) = s.next_after(t) {
                assert!(n > t, "{spec:?}: next {n} not after {t}");
            }
            if let Some(p) = s.prev_at_or_before(t) {
                assert!(p <= t, "{spec:?}: prev {p} after {t}");
            }
            let _ = s.times_between(
                t,
                t.checked_add(SignedDuration::from_hours(49)).unwrap_or(t),
                100,
            );
            if let Some(n) = s.next_after(t) {
                let _ = s.format_rfc3339(n);
            }
        }
    }

    fn fuzz_seed() -> u64 {
        std::env::var("CRON_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_c0de_2024)
    }

    #[test]
    fn random_schedules_never_panic() {
        let seed = fuzz_seed();
        let mut rng = Rng(seed);
        for i in 0..3000 {
            let spec = random_spec(&mut rng);
            let result = std::panic::catch_unwind(|| exercise(&spec, None));
            assert!(
                result.is_ok(),
                "seed {seed} iteration {i}: panic on {spec:?}"
            );
        }
    }

    #[test]
    fn mutated_schedules_never_panic() {
        let seed = fuzz_seed() ^ 0xabcdef;
        let mut rng = Rng(seed);
        let bases = [
            "*/15 * * * *",
            "1-30/5 9-17 * jan-jun mon-fri",
            "0 0 13 * 5",
            "CRON_TZ=America/New_York 30 1 * * *",
            "@every 1h30m",
            "@daily",
            "5,10,15 3 1,15 * 7",
        ];
        for i in 0..3000 {
            let base = bases[rng.below(bases.len())];
            let spec = mutate(&mut rng, base);
            let tz = ["Europe/Berlin", "Etc/UTC", "Nowhere/Else", ""][rng.below(4)];
            let result = std::panic::catch_unwind(|| exercise(&spec, Some(tz)));
            assert!(
                result.is_ok(),
                "seed {seed} iteration {i}: panic on {spec:?} in {tz:?}"
            );
        }
    }
}
