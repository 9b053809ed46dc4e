//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container's CRI log files turned into
//! what `kubectl logs` prints. The query is decoded as the kubelet decodes `PodLogOptions`;
//! records are joined into lines (a `P` record continues into the next record of its stream),
//! filtered by `sinceSeconds`/`sinceTime` and `stream`, cut to the last `tailLines` and to
//! `limitBytes`, and prefixed with their timestamp under `timestamps`. Those steps are pure
//! ([`LineAssembler`], [`LogFilter`]); [`LogFiles`] reads the files and follows the live one
//! across rotations; [`stream_logs`] drives both for one request.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use node_runtime::log::{parse_record, LogRecord, Stream, Tag};
use tokio::sync::mpsc;

use super::backend::KubeletBackend;
use super::routes::Query;

/// How often a followed log is checked for new records.
pub const FOLLOW_POLL: Duration = Duration::from_millis(250);
/// A run of `P` records longer than this is let out as it is, so that a container printing an
/// endless line cannot make the server buffer without bound.
const MAX_PENDING_LINE: usize = 1 << 20;
/// How many of the last bytes read are compared to notice a file rewritten in place.
const TRUNCATION_PROBE: usize = 64;
/// Bytes read from a file at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Which of the container's outputs to return (`stream`, alpha in 1.32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogStream {
    #[default]
    All,
    Stdout,
    Stderr,
}

/// The options of one log request (`v1.PodLogOptions` as the kubelet reads them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub since_seconds: Option<i64>,
    pub since_time: Option<Timestamp>,
    pub limit_bytes: Option<u64>,
    pub stream: LogStream,
}

/// Why a query was refused: the status code and the text answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub status: u16,
    pub message: String,
}

impl QueryError {
    fn decode(detail: String) -> QueryError {
        QueryError {
            status: 400,
            message: format!("Unable to decode query: {detail}"),
        }
    }

    fn invalid(detail: &str) -> QueryError {
        QueryError {
            status: 422,
            message: format!("Invalid request: {detail}"),
        }
    }
}

/// A boolean query parameter as apimachinery converts one: absent, `0` and `false` are false,
/// anything else (even an empty value) is true.
pub fn query_bool(q: &Query, key: &str) -> bool {
    match q.get(key) {
        None => false,
        Some(v) => v != "0" && !v.eq_ignore_ascii_case("false"),
    }
}

fn query_int(q: &Query, key: &str) -> Result<Option<i64>, QueryError> {
    match q.get(key) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| QueryError::decode(format!("{key}: {v:?} is not an integer"))),
    }
}

impl LogQuery {
    /// Decodes and validates the query, with the kubelet's status codes: 400 for what does not
    /// decode, 422 for what `ValidatePodLogOptions` refuses.
    pub fn parse(q: &Query) -> Result<LogQuery, QueryError> {
        // `tail` is the old name of `tailLines`; `tail=all` means no limit.
        let tail = match q.get("tail") {
            Some("all") => None,
            Some(t) if !t.is_empty() => Some(
                t.parse::<i64>()
                    .map_err(|_| QueryError::decode(format!("tail: {t:?} is not an integer")))?,
            ),
            _ => query_int(q, "tailLines")?,
        };
        let since_time = match q.get("sinceTime") {
            None | Some("") => None,
            Some(t) => Some(t.parse::<Timestamp>().map_err(|_| {
                QueryError::decode(format!("sinceTime: {t:?} is not an RFC 3339 time"))
            })?),
        };
        let since_seconds = query_int(q, "sinceSeconds")?;
        let limit_bytes = query_int(q, "limitBytes")?;
        let stream = match q.get("stream") {
            None | Some("") | Some("All") => LogStream::All,
            Some("Stdout") => LogStream::Stdout,
            Some("Stderr") => LogStream::Stderr,
            Some(other) => {
                return Err(QueryError::invalid(&format!(
                    "stream: Unsupported value: {other:?}: supported values: \"All\", \"Stderr\", \"Stdout\""
                )))
            }
        };
        if tail.is_some_and(|t| t < 0) {
            return Err(QueryError::invalid(
                "tailLines: must be greater than or equal to 0",
            ));
        }
        if limit_bytes.is_some_and(|l| l < 1) {
            return Err(QueryError::invalid("limitBytes: must be greater than 0"));
        }
        if since_seconds.is_some() && since_time.is_some() {
            return Err(QueryError::invalid(
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        if since_seconds.is_some_and(|s| s < 1) {
            return Err(QueryError::invalid("sinceSeconds: must be greater than 0"));
        }
        if stream != LogStream::All && tail.is_some() {
            return Err(QueryError::invalid(
                "tailLines: `tailLines` and specific `stream` are mutually exclusive for now",
            ));
        }
        Ok(LogQuery {
            follow: query_bool(q, "follow"),
            previous: query_bool(q, "previous"),
            timestamps: query_bool(q, "timestamps"),
            tail_lines: tail.map(|t| t as u64),
            since_seconds,
            since_time,
            limit_bytes: limit_bytes.map(|l| l as u64),
            stream,
        })
    }

    /// The earliest timestamp shown, for a request made at `now`.
    pub fn since(&self, now: Timestamp) -> Option<Timestamp> {
        match (self.since_time, self.since_seconds) {
            (Some(t), _) => Some(t),
            (None, Some(s)) => now.checked_sub(SignedDuration::from_secs(s)).ok(),
            (None, None) => None,
        }
    }
}

/// One line of output: records of a stream joined up to and including an `F` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The timestamp of the line's first record.
    pub timestamp: Timestamp,
    pub stream: Stream,
    pub content: Vec<u8>,
    /// False for a line whose end was never written (the container stopped mid-line): it is
    /// printed without a newline, as the kubelet prints a trailing `P` record.
    pub complete: bool,
}

fn stream_index(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// Joins records into lines. stdout and stderr interleave in one file, so each has its own
/// unfinished line.
#[derive(Default)]
pub struct LineAssembler {
    pending: [Option<(Timestamp, Vec<u8>)>; 2],
}

impl LineAssembler {
    /// Takes one record; returns the line it completes, if any.
    pub fn push(&mut self, rec: LogRecord) -> Option<LogLine> {
        let slot = &mut self.pending[stream_index(rec.stream)];
        let (timestamp, mut content) = slot.take().unwrap_or((rec.timestamp, Vec::new()));
        content.extend_from_slice(&rec.content);
        let complete = rec.tag == Tag::Full;
        if complete || content.len() >= MAX_PENDING_LINE {
            return Some(LogLine {
                timestamp,
                stream: rec.stream,
                content,
                complete,
            });
        }
        *slot = Some((timestamp, content));
        None
    }

    /// The unfinished lines, oldest first: called when no more records will come.
    pub fn flush(&mut self) -> Vec<LogLine> {
        let mut lines: Vec<LogLine> = [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .filter_map(|s| {
                let (timestamp, content) = self.pending[stream_index(s)].take()?;
                Some(LogLine {
                    timestamp,
                    stream: s,
                    content,
                    complete: false,
                })
            })
            .collect();
        lines.sort_by_key(|l| l.timestamp);
        lines
    }
}

/// Formats one line as `kubectl logs` shows it: with `timestamps`, the line's time with nine
/// fractional digits (the kubelet's `RFC3339NanoFixed`) and a space first.
pub fn format_line(line: &LogLine, timestamps: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.content.len() + 32);
    if timestamps {
        out.extend_from_slice(format!("{:.9} ", line.timestamp).as_bytes());
    }
    out.extend_from_slice(&line.content);
    if line.complete {
        out.push(b'\n');
    }
    out
}

/// Decides what of each line is written: the `since`/`stream` filters, the `tailLines` window
/// over the lines that exist when the request comes (lines that arrive while following are all
/// shown), and the `limitBytes` budget over everything written.
pub struct LogFilter {
    since: Option<Timestamp>,
    stream: LogStream,
    timestamps: bool,
    /// `Some` until [`LogFilter::end_history`]: the last `tailLines` lines seen.
    tail: Option<(usize, VecDeque<LogLine>)>,
    remaining: Option<u64>,
}

impl LogFilter {
    pub fn new(query: &LogQuery, now: Timestamp) -> LogFilter {
        LogFilter {
            since: query.since(now),
            stream: query.stream,
            timestamps: query.timestamps,
            tail: query
                .tail_lines
                .map(|n| (usize::try_from(n).unwrap_or(usize::MAX), VecDeque::new())),
            remaining: query.limit_bytes,
        }
    }

    /// What to write for this line (maybe nothing).
    pub fn push(&mut self, line: LogLine) -> Vec<u8> {
        if self.since.is_some_and(|s| line.timestamp < s) {
            return Vec::new();
        }
        let wanted = match self.stream {
            LogStream::All => true,
            LogStream::Stdout => line.stream == Stream::Stdout,
            LogStream::Stderr => line.stream == Stream::Stderr,
        };
        if !wanted {
            return Vec::new();
        }
        if let Some((n, kept)) = &mut self.tail {
            if *n > 0 {
                if kept.len() == *n {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
            return Vec::new();
        }
        let bytes = format_line(&line, self.timestamps);
        self.budget(bytes)
    }

    /// The lines that existed when the request came have all been pushed: returns the kept
    /// tail, and from now on every line is written.
    pub fn end_history(&mut self) -> Vec<u8> {
        let Some((_, kept)) = self.tail.take() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for line in kept {
            out.extend(format_line(&line, self.timestamps));
        }
        self.budget(out)
    }

    /// Whether `limitBytes` has been written: nothing more will be.
    pub fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }

    fn budget(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        if let Some(left) = &mut self.remaining {
            let take = bytes
                .len()
                .min(usize::try_from(*left).unwrap_or(usize::MAX));
            bytes.truncate(take);
            *left -= take as u64;
        }
        bytes
    }
}

/// Splits complete records off the front of `carry` (bytes read but not yet parsed); a line
/// that does not parse is skipped, as the kubelet skips it.
fn take_records(carry: &mut Vec<u8>, out: &mut Vec<LogRecord>) {
    let Some(last_nl) = carry.iter().rposition(|b| *b == b'\n') else {
        if carry.len() > MAX_PENDING_LINE {
            // Not a CRI log: a record is never this long.
            carry.clear();
        }
        return;
    };
    for line in carry[..=last_nl].split_inclusive(|b| *b == b'\n') {
        if let Ok(rec) = parse_record(line) {
            out.push(rec);
        }
    }
    carry.drain(..=last_nl);
}

struct OpenFile {
    file: File,
    pos: u64,
    ino: u64,
    /// The last bytes read, to notice the file being truncated and written again in place.
    last: Vec<u8>,
    /// The last file of the list: the one the runtime is writing.
    live: bool,
}

/// A container's log files, read as records: the rotated files oldest first, then the live
/// file, which a follower keeps reading as it grows. When the runtime rotates (renames the
/// live file and starts a new one under its name) the old file is read to its end before the
/// new one is opened; a live file truncated in place is read again from its start.
pub struct LogFiles {
    queue: VecDeque<PathBuf>,
    live_path: Option<PathBuf>,
    current: Option<OpenFile>,
    carry: Vec<u8>,
}

impl LogFiles {
    /// Reads from the start of the oldest file.
    pub fn new(files: Vec<PathBuf>) -> LogFiles {
        LogFiles {
            live_path: files.last().cloned(),
            queue: files.into(),
            current: None,
            carry: Vec::new(),
        }
    }

    /// Reads only what is written to the live file from now on (attach).
    pub fn at_end(files: Vec<PathBuf>) -> LogFiles {
        let mut lf = LogFiles::new(Vec::new());
        lf.live_path = files.last().cloned();
        if let Some(path) = &lf.live_path {
            match File::open(path).and_then(|mut f| {
                use std::os::unix::fs::FileExt;
                let pos = f.seek(SeekFrom::End(0))?;
                let ino = f.metadata()?.ino();
                let mut last = vec![0u8; pos.min(TRUNCATION_PROBE as u64) as usize];
                let at = pos - last.len() as u64;
                f.read_exact_at(&mut last, at)?;
                Ok(OpenFile {
                    file: f,
                    pos,
                    ino,
                    last,
                    live: true,
                })
            }) {
                Ok(open) => lf.current = Some(open),
                // Not created yet: it will be read from its start once it exists.
                Err(_) => lf.queue.push_back(path.clone()),
            }
        }
        lf
    }

    /// Appends every record readable now to `out`.
    pub fn read_available(&mut self, out: &mut Vec<LogRecord>) -> io::Result<()> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.queue.pop_front() else {
                    return Ok(());
                };
                let live = self.queue.is_empty();
                match open_at_start(&path, live) {
                    Ok(f) => self.current = Some(f),
                    // Removed by rotation since it was listed, or not written yet.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if live {
                            self.queue.push_back(path);
                            return Ok(());
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let cur = self.current.as_mut().expect("opened above");
            if cur.live && rewritten(cur)? {
                cur.file.seek(SeekFrom::Start(0))?;
                cur.pos = 0;
                cur.last.clear();
                self.carry.clear();
            }
            read_to_end(cur, &mut self.carry, out)?;
            if !cur.live {
                self.finish_file(out);
                continue;
            }
            let Some(path) = self.live_path.clone() else {
                return Ok(());
            };
            match std::fs::metadata(&path) {
                Ok(m) if m.ino() != cur.ino => {
                    // Rotated: what was written to the old file before the rename is read
                    // first, then the new file from its start.
                    read_to_end(cur, &mut self.carry, out)?;
                    match open_at_start(&path, true) {
                        Ok(f) => {
                            self.finish_file(out);
                            self.current = Some(f);
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
                // Same file, nothing new; or renamed and its successor not yet created.
                _ => return Ok(()),
            }
        }
    }

    /// No more will be written: the last record even if its newline is missing.
    pub fn finish(&mut self, out: &mut Vec<LogRecord>) {
        self.finish_file(out);
    }

    fn finish_file(&mut self, out: &mut Vec<LogRecord>) {
        if !self.carry.is_empty() {
            if let Ok(rec) = parse_record(&self.carry) {
                out.push(rec);
            }
            self.carry.clear();
        }
        self.current = None;
    }
}

fn open_at_start(path: &PathBuf, live: bool) -> io::Result<OpenFile> {
    let file = File::open(path)?;
    let ino = file.metadata()?.ino();
    Ok(OpenFile {
        file,
        pos: 0,
        ino,
        last: Vec::new(),
        live,
    })
}

/// Whether the file no longer holds what was read from it: truncated (a rotation policy that
/// keeps one file starts it over), maybe already written past the old end.
fn rewritten(cur: &OpenFile) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    if cur.pos == 0 {
        return Ok(false);
    }
    if cur.file.metadata()?.len() < cur.pos {
        return Ok(true);
    }
    let mut now = vec![0u8; cur.last.len()];
    cur.file
        .read_exact_at(&mut now, cur.pos - cur.last.len() as u64)?;
    Ok(now != cur.last)
}

fn read_to_end(
    cur: &mut OpenFile,
    carry: &mut Vec<u8>,
    out: &mut Vec<LogRecord>,
) -> io::Result<()> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = cur.file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        cur.pos += n as u64;
        cur.last.extend_from_slice(&buf[..n]);
        let excess = cur.last.len().saturating_sub(TRUNCATION_PROBE);
        cur.last.drain(..excess);
        carry.extend_from_slice(&buf[..n]);
        take_records(carry, out);
    }
}

/// Runs [`LogFiles::read_available`] off the async threads.
pub async fn read_blocking(files: LogFiles) -> (LogFiles, io::Result<Vec<LogRecord>>) {
    let joined = tokio::task::spawn_blocking(move || {
        let mut files = files;
        let mut out = Vec::new();
        let r = files.read_available(&mut out).map(|()| out);
        (files, r)
    })
    .await;
    match joined {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The container a request is about.
#[derive(Clone, Debug)]
pub struct ContainerRef {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// Writes the answer to one log request into `tx`, chunk by chunk: history, then (with
/// `follow`, not for `previous`) new lines until the container has stopped and its log is
/// drained, `limitBytes` is reached, or the client has gone (`tx` closed).
pub async fn stream_logs<B: KubeletBackend>(
    backend: Arc<B>,
    who: ContainerRef,
    query: LogQuery,
    files: Vec<PathBuf>,
    tx: mpsc::Sender<Bytes>,
) {
    let follow = query.follow && !query.previous;
    let mut filter = LogFilter::new(&query, Timestamp::now());
    let mut lines = LineAssembler::default();
    let mut files = LogFiles::new(files);
    let send = |bytes: Vec<u8>| {
        let tx = tx.clone();
        async move { bytes.is_empty() || tx.send(Bytes::from(bytes)).await.is_ok() }
    };
    let mut first = true;
    loop {
        // Sampled before reading: a container that has stopped by now wrote all it will.
        let running = !first
            && backend
                .container_running(&who.namespace, &who.pod, &who.container)
                .await;
        let (back, read) = read_blocking(files).await;
        files = back;
        let mut records = match read {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(container = ?who, "reading the log failed: {e}");
                return;
            }
        };
        let caught_up = records.is_empty();
        let last_round = !follow || (!first && !running && caught_up);
        if last_round {
            files.finish(&mut records);
        }
        let mut out = Vec::new();
        for rec in records {
            if let Some(line) = lines.push(rec) {
                out.extend(filter.push(line));
            }
        }
        if last_round {
            for line in lines.flush() {
                out.extend(filter.push(line));
            }
        }
        if first {
            out.extend(filter.end_history());
            first = false;
        }
        if !send(out).await || filter.exhausted() || last_round {
            return;
        }
        if caught_up {
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
                _ = tx.closed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use node_runtime::log::format_record;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn rec(t: &str, stream: Stream, tag: Tag, content: &str) -> LogRecord {
        LogRecord {
            timestamp: ts(t),
            stream,
            tag,
            content: content.as_bytes().to_vec(),
        }
    }

    fn lines_of(records: Vec<LogRecord>) -> Vec<LogLine> {
        let mut asm = LineAssembler::default();
        let mut out: Vec<LogLine> = records.into_iter().filter_map(|r| asm.push(r)).collect();
        out.extend(asm.flush());
        out
    }

    fn run(query: &LogQuery, lines: Vec<LogLine>) -> String {
        let mut f = LogFilter::new(query, ts("2024-01-01T00:10:00Z"));
        let mut out = Vec::new();
        for l in lines {
            out.extend(f.push(l));
        }
        out.extend(f.end_history());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn query_decodes_as_pod_log_options() {
        let q = LogQuery::parse(&Query::parse(Some(
            "follow=true&tailLines=10&timestamps=1&sinceSeconds=5&limitBytes=100&previous=false",
        )))
        .unwrap();
        assert_eq!(
            q,
            LogQuery {
                follow: true,
                previous: false,
                timestamps: true,
                tail_lines: Some(10),
                since_seconds: Some(5),
                since_time: None,
                limit_bytes: Some(100),
                stream: LogStream::All,
            }
        );
        let q = LogQuery::parse(&Query::parse(Some(
            "tail=all&sinceTime=2024-01-01T00:00:00Z",
        )))
        .unwrap();
        assert_eq!(q.tail_lines, None);
        assert_eq!(q.since_time, Some(ts("2024-01-01T00:00:00Z")));
        assert_eq!(
            LogQuery::parse(&Query::parse(Some("tail=3")))
                .unwrap()
                .tail_lines,
            Some(3)
        );
    }

    #[test]
    fn bad_queries_are_400_and_invalid_ones_422() {
        let err = |q: &str| LogQuery::parse(&Query::parse(Some(q))).unwrap_err();
        assert_eq!(err("tailLines=x").status, 400);
        assert_eq!(err("sinceTime=yesterday").status, 400);
        assert_eq!(err("tailLines=-1").status, 422);
        assert_eq!(err("limitBytes=0").status, 422);
        assert_eq!(err("sinceSeconds=0").status, 422);
        assert_eq!(
            err("sinceSeconds=1&sinceTime=2024-01-01T00:00:00Z").status,
            422
        );
        assert_eq!(err("stream=Both").status, 422);
    }

    #[test]
    fn partial_records_join_their_stream_only() {
        let lines = lines_of(vec![
            rec("2024-01-01T00:00:01Z", Stream::Stdout, Tag::Partial, "hel"),
            rec("2024-01-01T00:00:02Z", Stream::Stderr, Tag::Full, "oops"),
            rec("2024-01-01T00:00:03Z", Stream::Stdout, Tag::Full, "lo"),
            rec(
                "2024-01-01T00:00:04Z",
                Stream::Stdout,
                Tag::Partial,
                "unfinished",
            ),
        ]);
        let contents: Vec<(&str, bool)> = lines
            .iter()
            .map(|l| (std::str::from_utf8(&l.content).unwrap(), l.complete))
            .collect();
        assert_eq!(
            contents,
            vec![("oops", true), ("hello", true), ("unfinished", false)]
        );
        // A joined line carries the time of its first record.
        assert_eq!(lines[1].timestamp, ts("2024-01-01T00:00:01Z"));
    }

    fn sample() -> Vec<LogLine> {
        lines_of(vec![
            rec("2024-01-01T00:00:01Z", Stream::Stdout, Tag::Full, "one"),
            rec("2024-01-01T00:05:00Z", Stream::Stderr, Tag::Full, "two"),
            rec("2024-01-01T00:09:59.5Z", Stream::Stdout, Tag::Full, "three"),
        ])
    }

    #[test]
    fn plain_output_is_lines() {
        assert_eq!(run(&LogQuery::default(), sample()), "one\ntwo\nthree\n");
    }

    #[test]
    fn timestamps_prefix_each_line_with_nine_digits() {
        let q = LogQuery {
            timestamps: true,
            tail_lines: Some(1),
            ..Default::default()
        };
        assert_eq!(run(&q, sample()), "2024-01-01T00:09:59.500000000Z three\n");
    }

    #[test]
    fn tail_keeps_the_last_lines_and_zero_keeps_none() {
        let q = LogQuery {
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(run(&q, sample()), "two\nthree\n");
        let q = LogQuery {
            tail_lines: Some(0),
            ..Default::default()
        };
        assert_eq!(run(&q, sample()), "");
    }

    #[test]
    fn since_drops_older_lines() {
        // now is 00:10:00; 300 s back is 00:05:00, which is kept.
        let q = LogQuery {
            since_seconds: Some(300),
            ..Default::default()
        };
        assert_eq!(run(&q, sample()), "two\nthree\n");
        let q = LogQuery {
            since_time: Some(ts("2024-01-01T00:06:00Z")),
            ..Default::default()
        };
        assert_eq!(run(&q, sample()), "three\n");
    }

    #[test]
    fn limit_cuts_mid_line_and_then_writes_nothing() {
        let q = LogQuery {
            limit_bytes: Some(6),
            ..Default::default()
        };
        let mut f = LogFilter::new(&q, ts("2024-01-01T00:10:00Z"));
        let mut lines = sample().into_iter();
        assert_eq!(f.push(lines.next().unwrap()), b"one\n");
        assert!(!f.exhausted());
        assert_eq!(f.push(lines.next().unwrap()), b"tw");
        assert!(f.exhausted());
        assert_eq!(f.push(lines.next().unwrap()), b"");
    }

    #[test]
    fn stream_selects_one_output() {
        let q = LogQuery {
            stream: LogStream::Stderr,
            ..Default::default()
        };
        assert_eq!(run(&q, sample()), "two\n");
    }

    #[test]
    fn an_unfinished_line_has_no_newline() {
        let lines = lines_of(vec![rec(
            "2024-01-01T00:00:01Z",
            Stream::Stdout,
            Tag::Partial,
            "prompt> ",
        )]);
        assert_eq!(run(&LogQuery::default(), lines), "prompt> ");
    }

    #[test]
    fn records_split_across_reads_are_parsed_once_complete() {
        let mut carry = Vec::new();
        let mut out = Vec::new();
        let line = format_record(ts("2024-01-01T00:00:01Z"), Stream::Stdout, Tag::Full, b"hi");
        carry.extend_from_slice(&line[..10]);
        take_records(&mut carry, &mut out);
        assert!(out.is_empty());
        carry.extend_from_slice(&line[10..]);
        carry.extend_from_slice(b"garbage line\n");
        take_records(&mut carry, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].content, b"hi");
        assert!(carry.is_empty());
    }

    fn write(path: &std::path::Path, recs: &[(&str, &str)]) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for (t, c) in recs {
            f.write_all(&format_record(
                ts(t),
                Stream::Stdout,
                Tag::Full,
                c.as_bytes(),
            ))
            .unwrap();
        }
    }

    fn contents(recs: &[LogRecord]) -> Vec<String> {
        recs.iter()
            .map(|r| String::from_utf8(r.content.clone()).unwrap())
            .collect()
    }

    #[test]
    fn files_are_read_oldest_first_and_the_live_one_followed_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("0.log.20240101-000000.000000000");
        let live = dir.path().join("0.log");
        write(&old, &[("2024-01-01T00:00:01Z", "a")]);
        write(&live, &[("2024-01-01T00:00:02Z", "b")]);
        let mut files = LogFiles::new(vec![old, live.clone()]);
        let mut out = Vec::new();
        files.read_available(&mut out).unwrap();
        assert_eq!(contents(&out), vec!["a", "b"]);

        // The runtime appends, then rotates: the rest of the old file comes before the new.
        write(&live, &[("2024-01-01T00:00:03Z", "c")]);
        std::fs::rename(&live, dir.path().join("0.log.20240101-000003.000000000")).unwrap();
        write(&live, &[("2024-01-01T00:00:04Z", "d")]);
        out.clear();
        files.read_available(&mut out).unwrap();
        assert_eq!(contents(&out), vec!["c", "d"]);

        // Truncated in place (a policy keeping one file): read again from the start.
        std::fs::write(&live, b"").unwrap();
        write(&live, &[("2024-01-01T00:00:05Z", "e")]);
        out.clear();
        files.read_available(&mut out).unwrap();
        assert_eq!(contents(&out), vec!["e"]);
    }

    #[test]
    fn at_end_reads_only_what_comes_next() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("0.log");
        write(&live, &[("2024-01-01T00:00:01Z", "old")]);
        let mut files = LogFiles::at_end(vec![live.clone()]);
        let mut out = Vec::new();
        files.read_available(&mut out).unwrap();
        assert!(out.is_empty());
        write(&live, &[("2024-01-01T00:00:02Z", "new")]);
        files.read_available(&mut out).unwrap();
        assert_eq!(contents(&out), vec!["new"]);
    }
}
