//! Prometheus metrics of the kubelet API: requests by path bucket, method and code (the
//! kubelet's `kubelet_http_requests_total`, with the code added), streaming sessions open now,
//! and the process's resident memory. Rendered in the text exposition format.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// The kinds of long-running sessions counted by [`Metrics::session`].
pub const SESSION_KINDS: [&str; 4] = ["exec", "attach", "portforward", "logs"];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    sessions: [AtomicI64; SESSION_KINDS.len()],
}

/// Counts a session as open until dropped.
pub struct SessionGuard<'a> {
    gauge: &'a AtomicI64,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn observe(&self, bucket: &'static str, method: &str, code: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((bucket, method.to_string(), code)).or_default() += 1;
    }

    /// Marks a session of `kind` (one of [`SESSION_KINDS`]) open for the guard's life.
    pub fn session(&self, kind: &str) -> SessionGuard<'_> {
        let i = SESSION_KINDS
            .iter()
            .position(|k| *k == kind)
            .expect("a known session kind");
        self.sessions[i].fetch_add(1, Ordering::Relaxed);
        SessionGuard {
            gauge: &self.sessions[i],
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP kubelet_http_requests_total Number of HTTP requests received since the server started, by path bucket, method and code.\n");
        out.push_str("# TYPE kubelet_http_requests_total counter\n");
        let map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((path, method, code), n) in map.iter() {
            out.push_str(&format!(
                "kubelet_http_requests_total{{path=\"{path}\",method=\"{method}\",code=\"{code}\"}} {n}\n"
            ));
        }
        drop(map);
        out.push_str(
            "# HELP kubelet_streaming_sessions Streaming sessions (exec, attach, port-forward, followed logs) open now.\n",
        );
        out.push_str("# TYPE kubelet_streaming_sessions gauge\n");
        for (kind, gauge) in SESSION_KINDS.iter().zip(&self.sessions) {
            out.push_str(&format!(
                "kubelet_streaming_sessions{{kind=\"{kind}\"}} {}\n",
                gauge.load(Ordering::Relaxed)
            ));
        }
        if let Some(rss) = resident_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
            out.push_str("# TYPE process_resident_memory_bytes gauge\n");
            out.push_str(&format!("process_resident_memory_bytes {rss}\n"));
        }
        out
    }
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_bucket_method_and_code() {
        let m = Metrics::default();
        m.observe("exec", "POST", 101);
        m.observe("exec", "POST", 101);
        m.observe("containerLogs", "GET", 404);
        let text = m.render();
        assert!(text.contains(
            "kubelet_http_requests_total{path=\"exec\",method=\"POST\",code=\"101\"} 2\n"
        ));
        assert!(text.contains(
            "kubelet_http_requests_total{path=\"containerLogs\",method=\"GET\",code=\"404\"} 1\n"
        ));
        assert!(text.contains("process_resident_memory_bytes "));
    }

    #[test]
    fn sessions_are_open_while_their_guard_lives() {
        let m = Metrics::default();
        let g = m.session("exec");
        assert!(m
            .render()
            .contains("kubelet_streaming_sessions{kind=\"exec\"} 1\n"));
        drop(g);
        assert!(m
            .render()
            .contains("kubelet_streaming_sessions{kind=\"exec\"} 0\n"));
    }

    #[test]
    fn rss_is_read_in_kib() {
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t   2048 kB\nThreads: 1\n"),
            Some(2048 * 1024)
        );
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }
}
