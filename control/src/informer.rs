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
#[derive(Clone)]
pub struct Informer {
    cache: Arc<RwLock<BTreeMap<String, Value>>>,
    changed: Arc<Notify>,
}

fn key_of(obj: &Value) -> String {
    let meta = &obj["metadata"];
    match meta["namespace"].as_str() {
        Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
        None => meta["name"].as_str().unwrap_or_default().to_string(),
    }
}

impl Informer {
    /// Starts keeping `path` (a collection URL such as `/api/v1/pods`) in the cache.
    pub fn start(cfg: KubeConfig, path: &'static str, changed: Arc<Notify>) -> Informer {
        let inf = Informer {
            cache: Arc::default(),
            changed,
        };
        let me = inf.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.list_and_watch(&cfg, path).await {
                    tracing::debug!(%path, "informer restarts: {e:#}");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        inf
    }

    /// Every cached object.
    pub fn objects(&self) -> Vec<Value> {
        self.cache.read().values().cloned().collect()
    }

    async fn list_and_watch(&self, cfg: &KubeConfig, path: &str) -> anyhow::Result<()> {
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
        self.changed.notify_one();
        let watch_path = format!("{path}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}");
        let resp = conn
            .send(Method::GET, &watch_path, None, "application/json")
            .await?;
        anyhow::ensure!(resp.status().is_success(), "watch: {}", resp.status());
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
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
