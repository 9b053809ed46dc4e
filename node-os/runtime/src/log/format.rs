//! The CRI log line format, as kubelet's `kuberuntime/logs` parses it and containerd writes
//! it: one record per line, `<timestamp> <stdout|stderr> <F|P> <content>\n`, where `P` marks
//! a piece of a longer line continued by the next record and `F` its end.

use jiff::Timestamp;

/// Which pipe a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Whether a record ends its line (`F`) or is continued by the next one (`P`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    Full,
    Partial,
}

/// One parsed log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub timestamp: Timestamp,
    pub stream: Stream,
    pub tag: Tag,
    /// The content without the record's trailing newline.
    pub content: Vec<u8>,
}

/// Formats one record. Timestamps are UTC with nine fractional digits: always valid
/// RFC 3339, parseable by Go's `time.RFC3339Nano`, and sortable as text.
pub fn format_record(ts: Timestamp, stream: Stream, tag: Tag, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 48);
    out.extend_from_slice(format!("{ts:.9} ").as_bytes());
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(match tag {
        Tag::Full => b" F ",
        Tag::Partial => b" P ",
    });
    out.extend_from_slice(content);
    out.push(b'\n');
    out
}

/// Why a line is not a CRI log record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("log line has no {0} field")]
    Missing(&'static str),
    #[error("log line has a bad timestamp: {0}")]
    Timestamp(String),
    #[error("log line has an unknown stream {0:?}")]
    Stream(String),
    #[error("log line has an unknown tag {0:?}")]
    Tag(String),
}

/// Parses one record (with or without its trailing newline).
pub fn parse_record(line: &[u8]) -> Result<LogRecord, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = line.splitn(4, |b| *b == b' ');
    let ts = parts
        .next()
        .filter(|p| !p.is_empty())
        .ok_or(ParseError::Missing("timestamp"))?;
    let stream = parts.next().ok_or(ParseError::Missing("stream"))?;
    let tag = parts.next().ok_or(ParseError::Missing("tag"))?;
    let content = parts.next().unwrap_or(b"");
    let ts_str = String::from_utf8_lossy(ts);
    let timestamp: Timestamp = ts_str
        .parse()
        .map_err(|_| ParseError::Timestamp(ts_str.to_string()))?;
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        other => return Err(ParseError::Stream(String::from_utf8_lossy(other).into())),
    };
    let tag = match tag {
        b"F" => Tag::Full,
        b"P" => Tag::Partial,
        other => return Err(ParseError::Tag(String::from_utf8_lossy(other).into())),
    };
    Ok(LogRecord {
        timestamp,
        stream,
        tag,
        content: content.to_vec(),
    })
}

/// What `kubectl logs` asks for.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// Only the last N lines (`--tail`).
    pub tail: Option<usize>,
    /// Only lines at or after this time (`--since`, `--since-time`).
    pub since: Option<Timestamp>,
    /// Prefix each line with its timestamp (`--timestamps`).
    pub timestamps: bool,
}

/// Turns a log file's bytes into what `kubectl logs` prints: partial records joined into
/// lines, filtered by `since`, cut to the last `tail` lines. Unparseable lines are skipped, as
/// the kubelet skips them. Picking the file (`--previous` is the previous restart's file) is
/// the caller's business.
pub fn select(file: &[u8], opts: &LogOptions) -> Vec<u8> {
    let mut lines: Vec<(Timestamp, Vec<u8>)> = Vec::new();
    // A partial record per stream waits for its continuation; stdout and stderr interleave.
    let mut pending: [Option<(Timestamp, Vec<u8>)>; 2] = [None, None];
    for raw in file.split_inclusive(|b| *b == b'\n') {
        let Ok(rec) = parse_record(raw) else { continue };
        let slot = &mut pending[rec.stream as usize];
        let (ts, mut buf) = slot.take().unwrap_or((rec.timestamp, Vec::new()));
        buf.extend_from_slice(&rec.content);
        match rec.tag {
            Tag::Partial => *slot = Some((ts, buf)),
            Tag::Full => lines.push((ts, buf)),
        }
    }
    lines.extend(pending.into_iter().flatten());
    if let Some(since) = opts.since {
        lines.retain(|(ts, _)| *ts >= since);
    }
    let skip = opts.tail.map_or(0, |n| lines.len().saturating_sub(n));
    let mut out = Vec::new();
    for (ts, content) in lines.into_iter().skip(skip) {
        if opts.timestamps {
            out.extend_from_slice(format!("{ts:.9} ").as_bytes());
        }
        out.extend_from_slice(&content);
        out.push(b'\n');
    }
    out
}

/// Splits container output into records: every newline ends a `F` record; a run longer than
/// `max_line` is cut into `P` records, so one endless line cannot grow a record without bound.
/// Returns the records and the bytes of an unfinished line, to be completed by the next read.
pub fn split_output(buffered: &[u8], max_line: usize) -> (Vec<(Tag, &[u8])>, &[u8]) {
    let mut records = Vec::new();
    let mut rest = buffered;
    loop {
        match rest.iter().position(|b| *b == b'\n') {
            Some(i) if i <= max_line => {
                records.push((Tag::Full, &rest[..i]));
                rest = &rest[i + 1..];
            }
            _ if rest.len() > max_line => {
                records.push((Tag::Partial, &rest[..max_line]));
                rest = &rest[max_line..];
            }
            _ => return (records, rest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn records_are_formatted_as_cri_lines() {
        let line = format_record(
            ts("2024-05-01T10:20:30.000001Z"),
            Stream::Stdout,
            Tag::Full,
            b"hello",
        );
        assert_eq!(line, b"2024-05-01T10:20:30.000001000Z stdout F hello\n");
        let line = format_record(
            ts("2024-05-01T10:20:30Z"),
            Stream::Stderr,
            Tag::Partial,
            b"a b",
        );
        assert_eq!(line, b"2024-05-01T10:20:30.000000000Z stderr P a b\n");
    }

    #[test]
    fn formatted_records_parse_back() {
        let t = ts("2024-05-01T10:20:30.123456789Z");
        let rec = parse_record(&format_record(t, Stream::Stderr, Tag::Partial, b"x y  z")).unwrap();
        assert_eq!(
            rec,
            LogRecord {
                timestamp: t,
                stream: Stream::Stderr,
                tag: Tag::Partial,
                content: b"x y  z".to_vec()
            }
        );
        // Go trims trailing zeros and may use an offset: both are accepted.
        let rec = parse_record(b"2016-10-06T00:17:09.6697942+02:00 stdout F ").unwrap();
        assert_eq!(rec.content, b"");
        assert_eq!(rec.timestamp, ts("2016-10-05T22:17:09.6697942Z"));
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert_eq!(
            parse_record(b"").unwrap_err(),
            ParseError::Missing("timestamp")
        );
        assert_eq!(
            parse_record(b"2016-10-06T00:17:09Z stdout").unwrap_err(),
            ParseError::Missing("tag")
        );
        assert!(matches!(
            parse_record(b"yesterday stdout F x"),
            Err(ParseError::Timestamp(_))
        ));
        assert!(matches!(
            parse_record(b"2016-10-06T00:17:09Z stdin F x"),
            Err(ParseError::Stream(_))
        ));
        assert!(matches!(
            parse_record(b"2016-10-06T00:17:09Z stdout X x"),
            Err(ParseError::Tag(_))
        ));
    }

    #[test]
    fn output_is_split_into_full_and_partial_records() {
        let (recs, rest) = split_output(b"one\ntwo\nthr", 16);
        assert_eq!(
            recs,
            vec![(Tag::Full, &b"one"[..]), (Tag::Full, &b"two"[..])]
        );
        assert_eq!(rest, b"thr");
        let (recs, rest) = split_output(b"abcdefgh\nxy", 3);
        assert_eq!(
            recs,
            vec![
                (Tag::Partial, &b"abc"[..]),
                (Tag::Partial, &b"def"[..]),
                (Tag::Full, &b"gh"[..])
            ]
        );
        assert_eq!(rest, b"xy");
        let (recs, rest) = split_output(b"abc\n", 3);
        assert_eq!(recs, vec![(Tag::Full, &b"abc"[..])]);
        assert_eq!(rest, b"");
    }

    #[test]
    fn select_joins_partials_and_applies_tail_since_and_timestamps() {
        let mut file = Vec::new();
        file.extend(format_record(
            ts("2024-01-01T00:00:01Z"),
            Stream::Stdout,
            Tag::Partial,
            b"hel",
        ));
        file.extend(format_record(
            ts("2024-01-01T00:00:02Z"),
            Stream::Stderr,
            Tag::Full,
            b"oops",
        ));
        file.extend(format_record(
            ts("2024-01-01T00:00:03Z"),
            Stream::Stdout,
            Tag::Full,
            b"lo",
        ));
        file.extend(b"garbage\n");
        file.extend(format_record(
            ts("2024-01-01T00:00:04Z"),
            Stream::Stdout,
            Tag::Full,
            b"last",
        ));
        assert_eq!(
            select(&file, &LogOptions::default()),
            b"oops\nhello\nlast\n"
        );
        assert_eq!(
            select(
                &file,
                &LogOptions {
                    tail: Some(1),
                    ..Default::default()
                }
            ),
            b"last\n"
        );
        assert_eq!(
            select(
                &file,
                &LogOptions {
                    tail: Some(0),
                    ..Default::default()
                }
            ),
            b""
        );
        let since = LogOptions {
            since: Some(ts("2024-01-01T00:00:02Z")),
            ..Default::default()
        };
        assert_eq!(select(&file, &since), b"oops\nlast\n");
        let stamped = LogOptions {
            tail: Some(1),
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            select(&file, &stamped),
            b"2024-01-01T00:00:04.000000000Z last\n"
        );
    }
}
