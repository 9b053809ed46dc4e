//! A list-and-watch cache of one resource collection, kept through the API like client-go's
//! informers: list, then watch from the list's resourceVersion, and list again when the watch
//! ends or its start was compacted away. Loops read the cache and wait for it to change.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http_body_util::BodyExt;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};

/// The cached objects of one collection, keyed `namespace/name` (or `name`).
///
/// The list-and-watch task ends once every clone of the informer is dropped (within a watch
/// idle period), so loops stopped on losing leadership leave no watches behind.
#[derive(Clone)]
pub struct Informer {
    feed: Feed,
    alive: Arc<()>,
}

/// The shared state the background task fills.
#[derive(Clone)]
struct Feed {
    cache: Arc<RwLock<BTreeMap<String, Value>>>,
    changed: Arc<Notify>,
    /// Set once the first list has filled the cache: before that an empty cache means "not
    /// known yet", not "none exist", and a controller acting on it would create duplicates.
    synced: Arc<std::sync::atomic::AtomicBool>,
}

fn key_of(obj: &Value) -> String {
    let meta = &obj["metadata"];
    match meta["namespace"].as_str() {
        Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
        None => meta["name"].as_str().unwrap_or_default().to_string(),
    }
}

impl Informer {
    /// Starts keeping `path` (a collection URL such as `/api/v1/pods`, optionally with a query
    /// such as `?labelSelector=...`) in the cache.
    pub fn start(cfg: KubeConfig, path: impl Into<String>, changed: Arc<Notify>) -> Informer {
        let path: String = path.into();
        let inf = Informer {
            feed: Feed {
                cache: Arc::default(),
                changed,
                synced: Arc::default(),
            },
            alive: Arc::new(()),
        };
        let feed = inf.feed.clone();
        let alive = Arc::downgrade(&inf.alive);
        tokio::spawn(async move {
            while alive.strong_count() > 0 {
                if let Err(e) = feed.list_and_watch(&cfg, &path, &alive).await {
                    tracing::debug!(%path, "informer restarts: {e:#}");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        inf
    }

    /// Whether the cache has been filled by a list at least once.
    pub fn has_synced(&self) -> bool {
        self.feed.synced.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Reads the cache in place (no copies), under its lock: keep `f` short.
    pub fn read<R>(&self, f: impl FnOnce(&BTreeMap<String, Value>) -> R) -> R {
        f(&self.feed.cache.read())
    }

    /// Every cached object.
    pub fn objects(&self) -> Vec<Value> {
        self.feed.cache.read().values().cloned().collect()
    }
}

impl Feed {
    async fn list_and_watch(
        &self,
        cfg: &KubeConfig,
        path: &str,
        alive: &std::sync::Weak<()>,
    ) -> anyhow::Result<()> {
        let mut conn = Connection::connect(cfg).await?;
        let list: Value = serde_json::from_slice(&conn.expect_ok(Method::GET, path, None).await?)?;
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        {
            let mut cache = self.cache.write();
            cache.clear();
            for item in list["items"].as_array().into_iter().flatten() {
                cache.insert(key_of(item), item.clone());
            }
        }
        self.synced
            .store(true, std::sync::atomic::Ordering::Release);
        self.changed.notify_one();
        let sep = if path.contains('?') { '&' } else { '?' };
        let watch_path =
            format!("{path}{sep}watch=1&allowWatchBookmarks=true&resourceVersion={rv}");
        let resp = conn
            .send(Method::GET, &watch_path, None, "application/json")
            .await?;
        anyhow::ensure!(resp.status().is_success(), "watch: {}", resp.status());
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        loop {
            let frame = match tokio::time::timeout(Duration::from_secs(30), body.frame()).await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) if alive.strong_count() == 0 => return Ok(()),
                Err(_) => continue,
            };
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let ev: Value = serde_json::from_slice(&line)?;
                let obj = &ev["object"];
                match ev["type"].as_str() {
                    Some("ADDED") | Some("MODIFIED") => {
                        self.cache.write().insert(key_of(obj), obj.clone());
                    }
                    Some("DELETED") => {
                        self.cache.write().remove(&key_of(obj));
                    }
                    // Too old (410) or another failure: list again.
                    Some("ERROR") => anyhow::bail!("watch error: {}", obj["message"]),
                    _ => continue,
                }
                self.changed.notify_one();
            }
        }
        Ok(())
    }
}

/// Whether every one of `informers` has listed at least once; loops skip their passes until then.
pub fn all_synced(informers: &[&Informer]) -> bool {
    informers.iter().all(|i| i.has_synced())
}
