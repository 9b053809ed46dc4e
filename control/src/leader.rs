//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's leaderelection
//! does, so that among several processes running the scheduler and controllers exactly one
//! acts.
//!
//! Every write to the Lease is a compare-and-swap on its resourceVersion (create when absent,
//! update naming the version read), so two candidates can never both take it: the slower one
//! gets 409 and stays a follower. Expiry is judged by the follower's own monotonic clock from
//! the moment it last saw the record change, never by comparing `renewTime` with its wall
//! clock, so skewed clocks between machines do not cause a double leader. A leader that cannot
//! renew within the renew deadline stops its loops before the lease can expire for others
//! (deadline < duration), which is the fencing that keeps the old leader from acting after a
//! new one took over.

use std::time::Duration;

use anyhow::Result;
use http::{Method, StatusCode};
use jiff::Timestamp;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{Connection, KubeConfig};

/// Timings, with kube-controller-manager's defaults.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub namespace: String,
    pub name: String,
    /// Unique per process: `<hostname>_<uuid>`.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl ElectionConfig {
    pub fn new(name: &str, identity: &str) -> ElectionConfig {
        ElectionConfig {
            namespace: "kube-system".into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A unique identity for this process.
pub fn process_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// What a candidate does with the Lease it just read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// We hold it: renew.
    Renew,
    /// The holder let it lapse (or released it): take it over.
    TakeOver,
    /// Someone else holds it and it has not expired for us.
    Follow { holder: String },
}

/// Decides from the Lease's holder and how long (by our clock) its record has stood unchanged.
pub fn decide(
    holder: Option<&str>,
    me: &str,
    unchanged_for: Duration,
    lease_duration: Duration,
) -> Step {
    match holder {
        None | Some("") => Step::TakeOver,
        Some(h) if h == me => Step::Renew,
        Some(_) if unchanged_for > lease_duration => Step::TakeOver,
        Some(h) => Step::Follow { holder: h.into() },
    }
}

fn micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// The state a candidate keeps between attempts.
struct Observed {
    record: Value,
    since: Instant,
}

struct Candidate {
    cfg: ElectionConfig,
    observed: Option<Observed>,
}

impl Candidate {
    fn path(&self) -> String {
        format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}",
            self.cfg.namespace, self.cfg.name
        )
    }

    /// One attempt; `Ok(true)` when we hold the Lease afterwards.
    async fn try_acquire_or_renew(&mut self, c: &mut Connection) -> Result<bool> {
        let now = Timestamp::now();
        let (code, body) = c.request(Method::GET, &self.path(), None).await?;
        let duration_s = self.cfg.lease_duration.as_secs().max(1);
        if code == StatusCode::NOT_FOUND {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.cfg.name, "namespace": self.cfg.namespace},
                "spec": {"holderIdentity": self.cfg.identity, "leaseDurationSeconds": duration_s,
                         "acquireTime": micro(now), "renewTime": micro(now), "leaseTransitions": 0},
            });
            let (code, _) = c
                .request(
                    Method::POST,
                    &format!(
                        "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
                        self.cfg.namespace
                    ),
                    Some(serde_json::to_vec(&lease)?),
                )
                .await?;
            return Ok(code.is_success());
        }
        anyhow::ensure!(code.is_success(), "reading lease: {code}");
        let mut lease: Value = serde_json::from_slice(&body)?;
        let record = lease["spec"].clone();
        // Restart the expiry clock whenever the record changes (a renewal or a new holder).
        if self.observed.as_ref().map(|o| &o.record) != Some(&record) {
            self.observed = Some(Observed {
                record: record.clone(),
                since: Instant::now(),
            });
        }
        let unchanged_for = self
            .observed
            .as_ref()
            .map_or(Duration::ZERO, |o| o.since.elapsed());
        let step = decide(
            record["holderIdentity"].as_str(),
            &self.cfg.identity,
            unchanged_for,
            self.cfg.lease_duration,
        );
        let spec = &mut lease["spec"];
        match step {
            Step::Follow { .. } => return Ok(false),
            Step::Renew => {
                spec["renewTime"] = json!(micro(now));
                spec["leaseDurationSeconds"] = json!(duration_s);
            }
            Step::TakeOver => {
                let transitions = spec["leaseTransitions"].as_i64().unwrap_or(0);
                spec["holderIdentity"] = json!(self.cfg.identity);
                spec["leaseDurationSeconds"] = json!(duration_s);
                spec["acquireTime"] = json!(micro(now));
                spec["renewTime"] = json!(micro(now));
                spec["leaseTransitions"] = json!(transitions + 1);
            }
        }
        // The update names the resourceVersion we read: if anyone wrote in between, 409.
        let (code, body) = c
            .request(Method::PUT, &self.path(), Some(serde_json::to_vec(&lease)?))
            .await?;
        if code.is_success() {
            let stored: Value = serde_json::from_slice(&body)?;
            self.observed = Some(Observed {
                record: stored["spec"].clone(),
                since: Instant::now(),
            });
            Ok(true)
        } else if code == StatusCode::CONFLICT {
            Ok(false)
        } else {
            anyhow::bail!("updating lease: {code}: {}", String::from_utf8_lossy(&body))
        }
    }
}

/// Runs for ever: campaigns for the Lease, and while leading keeps the tasks `start` spawned
/// running; on losing it (no successful renewal within the renew deadline) aborts them and
/// campaigns again.
pub async fn run_elected<F>(kube: KubeConfig, cfg: ElectionConfig, mut start: F)
where
    F: FnMut() -> Vec<JoinHandle<()>> + Send,
{
    let mut cand = Candidate {
        cfg: cfg.clone(),
        observed: None,
    };
    let mut conn: Option<Connection> = None;
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    let mut last_renewed: Option<Instant> = None;
    loop {
        if conn.is_none() {
            conn = Connection::connect(&kube).await.ok();
        }
        let held = match conn.as_mut() {
            Some(c) => match cand.try_acquire_or_renew(c).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::debug!(lease = %cfg.name, "leader election attempt failed: {e:#}");
                    conn = None;
                    false
                }
            },
            None => false,
        };
        if held {
            if running.is_empty() {
                tracing::info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
                running = start();
            }
            last_renewed = Some(Instant::now());
        } else if !running.is_empty()
            && last_renewed.is_none_or(|t| t.elapsed() >= cfg.renew_deadline)
        {
            tracing::warn!(lease = %cfg.name, "lost leadership; stopping loops");
            for h in running.drain(..) {
                h.abort();
            }
            last_renewed = None;
        }
        tokio::time::sleep(cfg.retry_period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(15);

    #[test]
    fn decisions() {
        assert_eq!(decide(None, "a", Duration::ZERO, D), Step::TakeOver);
        assert_eq!(decide(Some(""), "a", Duration::ZERO, D), Step::TakeOver);
        assert_eq!(
            decide(Some("a"), "a", Duration::from_secs(60), D),
            Step::Renew
        );
        assert_eq!(
            decide(Some("b"), "a", Duration::from_secs(14), D),
            Step::Follow { holder: "b".into() }
        );
        assert_eq!(
            decide(Some("b"), "a", Duration::from_secs(16), D),
            Step::TakeOver
        );
    }
}
