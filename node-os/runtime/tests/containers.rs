//! Real containers on this host (root required, as in CI): a busybox root filesystem as the
//! only image layer, the crate's own test binary as the re-executed helper, and checks on
//! what the kernel shows afterwards: logs, namespaces, cgroup files, exit codes, and that
//! nothing is left behind.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::harness;
use node_runtime::cgroup::{self, CgroupMode};
use node_runtime::log::Stream;
use node_runtime::{ContainerState, Resources, Runtime, RuntimeConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_echoes_hello_into_a_cri_log_and_exits_zero() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("hello-pod"))
            .await
            .unwrap();
    let id =
        h.rt.create_container(&sb, h.container("hello", "echo hello; echo oops >&2"))
            .await
            .unwrap();
    let created = h.rt.container_status(&id).unwrap();
    assert_eq!(created.state, ContainerState::Created);
    let pid = created.pid.unwrap();
    h.rt.start_container(&id).await.unwrap();
    let exit =
        h.rt.wait_container(&id, Duration::from_secs(20))
            .await
            .unwrap()
            .expect("container exits");
    assert_eq!(exit.exit_code, 0);
    let st = h.rt.container_status(&id).unwrap();
    assert_eq!(
        (st.state, st.exit_code, st.reason.as_deref()),
        (ContainerState::Exited, Some(0), Some("Completed"))
    );
    assert!(st.started_at.is_some() && st.finished_at >= st.started_at);
    assert_eq!(h.log_lines("hello", Stream::Stdout), vec!["hello"]);
    assert_eq!(h.log_lines("hello", Stream::Stderr), vec!["oops"]);
    let raw = fs::read_to_string(h.dir.path().join("logs/hello.log")).unwrap();
    assert!(raw.lines().any(|l| l.ends_with(" stdout F hello")), "{raw}");
    h.remove_and_check_clean(&sb, &[(id, pid)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_pod_share_hostname_and_network() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("shared-pod"))
            .await
            .unwrap();
    let server = h
        .run(
            &sb,
            h.container(
                "server",
                "hostname; readlink /proc/self/ns/net; echo served | nc -l -p 8080",
            ),
        )
        .await;
    // Read before the client runs: the server exits as soon as the client has connected.
    let server_pid = h.rt.container_status(&server).unwrap().pid.unwrap();
    let client = h
        .run(&sb, h.container("client", "hostname; readlink /proc/self/ns/net; for i in $(seq 100); do nc 127.0.0.1 8080 </dev/null && exit 0; sleep 0.1; done; exit 1"))
        .await;
    let client_pid = h.rt.container_status(&client).unwrap().pid.unwrap_or(0);
    let c =
        h.rt.wait_container(&client, Duration::from_secs(30))
            .await
            .unwrap()
            .expect("client exits");
    let s =
        h.rt.wait_container(&server, Duration::from_secs(30))
            .await
            .unwrap()
            .expect("server exits");
    let (server_log, client_log) = (
        h.log_lines("server", Stream::Stdout),
        h.log_lines("client", Stream::Stdout),
    );
    assert_eq!(
        (c.exit_code, s.exit_code),
        (0, 0),
        "server {server_log:?} client {client_log:?}"
    );
    assert_eq!(server_log[0], "shared-pod");
    assert_eq!(client_log[0], "shared-pod");
    assert!(server_log[1].starts_with("net:["), "{server_log:?}");
    assert_eq!(server_log[1], client_log[1], "one network namespace");
    let host_net = fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        PathBuf::from(&server_log[1]),
        host_net,
        "not the host's network namespace"
    );
    assert_eq!(client_log[2], "served");
    h.remove_and_check_clean(&sb, &[(server, server_pid), (client, client_pid)])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_pids_and_cpu_limits_land_in_the_container_cgroup() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("limits"))
            .await
            .unwrap();
    let mut cfg = h.container("limited", "sleep 60");
    cfg.resources = Resources {
        cpu_shares: Some(512),
        cpu_quota: Some(20_000),
        cpu_period: Some(100_000),
        memory_limit_bytes: Some(64 << 20),
        pids_limit: Some(42),
    };
    let id = h.run(&sb, cfg).await;
    let pid = h.rt.container_status(&id).unwrap().pid.unwrap();
    let read = |controller: &str, file: &str| {
        fs::read_to_string(
            h.rt.container_cgroup_dir(&id, controller)
                .unwrap()
                .join(file),
        )
        .unwrap()
        .trim()
        .to_string()
    };
    match h.rt.cgroup_mode() {
        CgroupMode::V1 => {
            assert_eq!(
                read("memory", "memory.limit_in_bytes"),
                (64u64 << 20).to_string()
            );
            assert_eq!(read("pids", "pids.max"), "42");
            assert_eq!(read("cpu", "cpu.shares"), "512");
            assert_eq!(read("cpu", "cpu.cfs_quota_us"), "20000");
            assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
            let procs = read("memory", "cgroup.procs");
            assert!(
                procs.lines().any(|p| p == pid.to_string()),
                "{pid} not in {procs}"
            );
        }
        CgroupMode::V2 => {
            assert_eq!(read("", "memory.max"), (64u64 << 20).to_string());
            assert_eq!(read("", "pids.max"), "42");
            assert_eq!(
                read("", "cpu.weight"),
                cgroup::cpu_shares_to_weight(512).to_string()
            );
            assert_eq!(read("", "cpu.max"), "20000 100000");
        }
    }
    h.rt.stop_container(&id, Duration::from_millis(200))
        .await
        .unwrap();
    h.remove_and_check_clean(&sb, &[(id, pid)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_sends_term_then_kill_after_the_grace_period() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("stop"))
            .await
            .unwrap();
    let stubborn = h
        .run(
            &sb,
            h.container(
                "stubborn",
                "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.1; done",
            ),
        )
        .await;
    let polite = h
        .run(
            &sb,
            h.container(
                "polite",
                "trap 'echo bye; exit 3' TERM; echo ready; while true; do sleep 0.1; done",
            ),
        )
        .await;
    for name in ["stubborn", "polite"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.log_lines(name, Stream::Stdout).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let pids = [
        h.rt.container_status(&stubborn).unwrap().pid.unwrap(),
        h.rt.container_status(&polite).unwrap().pid.unwrap(),
    ];

    let t = Instant::now();
    h.rt.stop_container(&polite, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a container that exits on TERM is not waited for"
    );
    let st = h.rt.container_status(&polite).unwrap();
    assert_eq!(
        (st.exit_code, st.reason.as_deref()),
        (Some(3), Some("Error"))
    );
    assert_eq!(h.log_lines("polite", Stream::Stdout), vec!["ready", "bye"]);

    let t = Instant::now();
    h.rt.stop_container(&stubborn, Duration::from_millis(1500))
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "SIGKILL only after the grace period"
    );
    let st = h.rt.container_status(&stubborn).unwrap();
    assert_eq!(
        (st.state, st.exit_code),
        (ContainerState::Exited, Some(137))
    );
    assert_eq!(
        h.log_lines("stubborn", Stream::Stdout),
        vec!["ready", "got TERM"]
    );
    h.remove_and_check_clean(&sb, &[(stubborn, pids[0]), (polite, pids[1])])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_oom_kills_are_reported() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("exits"))
            .await
            .unwrap();
    let failing = h.run(&sb, h.container("failing", "exit 7")).await;
    let mut hog = h.container(
        "hog",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    );
    hog.resources.memory_limit_bytes = Some(16 << 20);
    let hog = h.run(&sb, hog).await;
    let f =
        h.rt.wait_container(&failing, Duration::from_secs(20))
            .await
            .unwrap()
            .expect("exits");
    assert_eq!(f.exit_code, 7);
    assert_eq!(
        h.rt.container_status(&failing).unwrap().reason.as_deref(),
        Some("Error")
    );
    let o =
        h.rt.wait_container(&hog, Duration::from_secs(60))
            .await
            .unwrap()
            .expect("hog exits");
    let st = h.rt.container_status(&hog).unwrap();
    assert!(
        o.oom_killed,
        "{o:?}, log {:?}",
        h.log_lines("hog", Stream::Stdout)
    );
    assert_eq!(st.reason.as_deref(), Some("OOMKilled"));
    assert!(h.log_lines("hog", Stream::Stdout).is_empty());
    h.remove_and_check_clean(&sb, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_runtime_reads_state_back_and_stops_containers() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("restart"))
            .await
            .unwrap();
    let id = h
        .run(&sb, h.container("sleeper", "echo up; exec sleep 60"))
        .await;
    let before = h.rt.container_status(&id).unwrap();
    assert_eq!(before.state, ContainerState::Running);

    // A new runtime on the same run dir, as after a node-os restart.
    let mut cfg = RuntimeConfig::new(h.dir.path().join("run"));
    cfg.helper_exe = PathBuf::from(env!("CARGO_BIN_EXE_runtime-test-helper"));
    cfg.cgroup_root = h.cgroup_root.clone();
    let again = Runtime::new(cfg).unwrap();
    let after = again.container_status(&id).unwrap();
    assert_eq!(
        (after.state, after.pid, after.started_at),
        (ContainerState::Running, before.pid, before.started_at)
    );
    assert_eq!(again.list_containers().unwrap().len(), 1);
    // `sleep` as PID 1 of its namespace ignores TERM: the stop falls back to SIGKILL.
    again
        .stop_container(&id, Duration::from_millis(300))
        .await
        .unwrap();
    let st = h.rt.container_status(&id).unwrap();
    assert_eq!(
        (st.state, st.exit_code),
        (ContainerState::Exited, Some(137))
    );
    assert_eq!(h.log_lines("sleeper", Stream::Stdout), vec!["up"]);
    h.remove_and_check_clean(&sb, &[(id, before.pid.unwrap())])
        .await;
}
