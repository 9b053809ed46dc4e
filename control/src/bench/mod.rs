//! Benchmarks behind `control-bench`: each prints its figures as `bench: <name> <value> <unit>`.

pub mod api;
pub mod eviction;
pub mod scheduler;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::apiserver::{self, Config};
use crate::client::KubeConfig;

/// A fresh directory under the system's temporary directory for one benchmark run.
pub fn temp_dir(what: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("control-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Starts `control serve` in this process on a free loopback port, with every loop off unless
/// `tweak` turns it on, and returns the admin credentials once it serves.
pub async fn start_server(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Result<KubeConfig> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let listen = listener.local_addr()?;
    drop(listener);
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        listen,
        service_cidr: "10.96.0.0/12".into(),
        node_port_range: (30000, 32767),
        store: control_store::StoreOptions::default(),
        run_scheduler: false,
        run_controllers: false,
        node_lifecycle: None,
        pod_cidrs: None,
        extra_sans: Vec::new(),
        advertise_url: None,
        bootstrap_tokens: Vec::new(),
    };
    tweak(&mut config);
    tokio::spawn(async move {
        if let Err(e) = apiserver::serve(config).await {
            eprintln!("api server failed: {e:#}");
            std::process::exit(1);
        }
    });
    let kc_path = dir.join("admin.kubeconfig");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kc_path.exists() {
        anyhow::ensure!(Instant::now() < deadline, "API server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    KubeConfig::load(&kc_path)
}

/// The p-th percentile (0..=100) of samples, which it sorts.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

pub fn report(name: &str, value: f64, unit: &str) {
    println!("bench: {name} {value:.3} {unit}");
}
