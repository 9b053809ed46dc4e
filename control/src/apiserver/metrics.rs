//! Prometheus metrics of the API server: request counts and latencies by verb, resource and
//! code, open watches, and the store's revision. Rendered in the text exposition format.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use http::{Response, StatusCode};
use parking_lot::Mutex;

use super::body::{self, Body};
use super::ApiServer;

/// Upper bounds (seconds) of the request latency histogram buckets.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
    watchers: AtomicI64,
}

impl Metrics {
    pub fn observe(&self, verb: &'static str, resource: &'static str, code: u16, took: Duration) {
        *self
            .requests
            .lock()
            .entry((verb, resource, code))
            .or_default() += 1;
        // Watches live for minutes; their duration says nothing about latency.
        if verb == "WATCH" {
            return;
        }
        let secs = took.as_secs_f64();
        let mut lat = self.latency.lock();
        let h = lat.entry((verb, resource)).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    pub fn watchers_inc(&self) {
        self.watchers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn watchers_dec(&self) {
        self.watchers.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn render(&self, server: &ApiServer) -> Response<Body> {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of API requests by verb, resource and HTTP code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, res, code), n) in self.requests.lock().iter() {
            out.push_str(&format!(
                "apiserver_request_total{{verb=\"{verb}\",resource=\"{res}\",code=\"{code}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP apiserver_request_duration_seconds Latency of API requests (watches excluded).\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, res), h) in self.latency.lock().iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",resource=\"{res}\",le=\"{b}\"}} {}\n",
                    h.counts[i]
                ));
            }
            out.push_str(&format!(
                "apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",resource=\"{res}\",le=\"+Inf\"}} {}\n",
                h.count
            ));
            out.push_str(&format!(
                "apiserver_request_duration_seconds_sum{{verb=\"{verb}\",resource=\"{res}\"}} {}\n",
                h.sum
            ));
            out.push_str(&format!(
                "apiserver_request_duration_seconds_count{{verb=\"{verb}\",resource=\"{res}\"}} {}\n",
                h.count
            ));
        }
        out.push_str("# HELP apiserver_registered_watchers Open watch streams.\n");
        out.push_str("# TYPE apiserver_registered_watchers gauge\n");
        out.push_str(&format!(
            "apiserver_registered_watchers {}\n",
            self.watchers.load(Ordering::Relaxed)
        ));
        out.push_str(
            "# HELP store_revision Current revision of the store.\n# TYPE store_revision gauge\n",
        );
        out.push_str(&format!("store_revision {}\n", server.store.revision()));
        out.push_str("# HELP store_compacted_revision Revision up to which history was compacted.\n# TYPE store_compacted_revision gauge\n");
        out.push_str(&format!(
            "store_compacted_revision {}\n",
            server.store.compacted_revision()
        ));
        body::with_content_type(StatusCode::OK, "text/plain; version=0.0.4", out)
    }
}
