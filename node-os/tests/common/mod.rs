//! Shared by the node-os integration tests: `control serve` in this process (the `control`
//! library on a runtime of its own) on a free loopback port, with its admin credentials.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use control::apiserver::{self, Config};
use control::client::KubeConfig;
use control::join::cli;

/// A running control plane; it stops when this is dropped.
pub struct ControlPlane {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub admin: KubeConfig,
    /// The API server's URL as nodes are told it.
    pub url: String,
}

impl ControlPlane {
    /// Starts the API server with the controllers (the CSR approver and signer among them)
    /// and, when given, the node lifecycle loop; waits until it serves.
    pub fn start(node_lifecycle: Option<control_nodelifecycle::Config>) -> ControlPlane {
        Self::start_with(node_lifecycle, false, None)
    }

    /// As [`Self::start`], with the scheduler when asked and pod CIDRs for nodes from
    /// `cluster_cidr` (as `/24` blocks) when given.
    pub fn start_with(
        node_lifecycle: Option<control_nodelifecycle::Config>,
        run_scheduler: bool,
        cluster_cidr: Option<&str>,
    ) -> ControlPlane {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let listen = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            listen,
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: (30000, 32767),
            store: control_store::StoreOptions::default(),
            run_scheduler,
            run_controllers: true,
            node_lifecycle,
            pod_cidrs: cluster_cidr
                .map(|c| control::loops::nodeipam::PodCidrs::new(c, 24).unwrap()),
            extra_sans: Vec::new(),
            advertise_url: None,
            bootstrap_tokens: Vec::new(),
        };
        rt.spawn(async move {
            if let Err(e) = apiserver::serve(config).await {
                panic!("control serve failed: {e:#}");
            }
        });
        let kc = dir.path().join("admin.kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !kc.exists() {
            assert!(Instant::now() < deadline, "the API server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let admin = KubeConfig::load(&kc).unwrap();
        let url = cli::server_url(&admin);
        ControlPlane {
            rt,
            dir,
            admin,
            url,
        }
    }
}
