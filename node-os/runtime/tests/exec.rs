//! Processes in running containers (exec, exec_sync) and container stdin and terminals
//! (attach), on real containers like `containers.rs`: what the exec'd process sees (the
//! container's namespaces, cgroup, environment, working directory and files), its stdio
//! through pipes or a terminal, its exit code, and that killed or timed-out processes are
//! gone.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{harness, Harness};
use node_runtime::log::Stream;
use node_runtime::{ContainerState, Error, ExecProcess, ExecRequest};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn cmd(a: &[&str]) -> ExecRequest {
    ExecRequest {
        args: args(a),
        ..ExecRequest::default()
    }
}

async fn read_to_string(r: Option<Box<dyn AsyncRead + Send + Unpin>>) -> String {
    let mut out = Vec::new();
    if let Some(mut r) = r {
        tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut out))
            .await
            .expect("output ends")
            .unwrap();
    }
    String::from_utf8(out).unwrap()
}

/// Runs `req` to its end: (exit code, stdout, stderr).
async fn run(h: &Harness, id: &str, req: ExecRequest) -> (i32, String, String) {
    let mut p = h.rt.exec(id, req).await.unwrap();
    let (out, err) = tokio::join!(
        read_to_string(p.stdout.take()),
        read_to_string(p.stderr.take())
    );
    let code = tokio::time::timeout(Duration::from_secs(20), p.wait())
        .await
        .expect("exec exits")
        .unwrap();
    (code, out, err)
}

/// Waits until `cmd` succeeds in the container (the container has done its setup).
async fn until_ok(h: &Harness, id: &str, cmd: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match h.rt.exec_sync(id, &args(cmd), Duration::from_secs(5)).await {
            Ok((0, _)) => return,
            other if Instant::now() > deadline => panic!("{cmd:?} never succeeded: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Reads a terminal's output until it contains `want` (or fails after a while).
async fn read_until(r: &mut (dyn AsyncRead + Send + Unpin), seen: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, r.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {want:?} in {seen:?}"))
            .unwrap();
        assert!(n > 0, "output ended without {want:?}: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// Host pids whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).ok().as_deref() == Some(&want[..]))
        .filter(|pid| node_runtime::state::proc_start_ticks(*pid).is_some())
        .collect()
}

/// Whether SIGPIPE is ignored according to a `/proc/<pid>/status` text.
fn ignores_sigpipe(status: &str) -> bool {
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .expect("SigIgn line");
    mask & (1 << (libc::SIGPIPE - 1)) != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_in_the_containers_namespaces_cgroup_env_cwd_and_files() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("exec-pod"))
            .await
            .unwrap();
    let mut cfg = h.container(
        "app",
        "grep SigIgn /proc/self/status; echo made-by-app > /tmp/created; exec sleep 3600",
    );
    cfg.env.push("FOO=from-the-container".into());
    cfg.cwd = "/tmp".into();
    let id = h.run(&sb, cfg).await;
    let pid = h.rt.container_status(&id).unwrap().pid.unwrap();
    until_ok(&h, &id, &["cat", "/tmp/created"]).await;

    assert_eq!(
        run(&h, &id, cmd(&["echo", "hi"])).await,
        (0, "hi\n".into(), "".into())
    );
    assert_eq!(run(&h, &id, cmd(&["sh", "-c", "exit 3"])).await.0, 3);
    assert_eq!(
        run(
            &h,
            &id,
            cmd(&["sh", "-c", "echo out; echo oops >&2; exit 1"])
        )
        .await,
        (1, "out\n".into(), "oops\n".into())
    );
    let mut req = cmd(&["sh", "-c", "echo $FOO $EXTRA; pwd; cat created; hostname"]);
    req.env = vec!["EXTRA=from-the-exec".into()];
    assert_eq!(
        run(&h, &id, req).await.1,
        "from-the-container from-the-exec\n/tmp\nmade-by-app\nexec-pod\n"
    );

    // The same namespaces as the container's process, as the host sees them.
    let (code, out, _) = run(
        &h,
        &id,
        cmd(&[
            "sh",
            "-c",
            "for n in mnt pid net ipc uts; do readlink /proc/self/ns/$n; done",
        ]),
    )
    .await;
    assert_eq!(code, 0);
    let host: Vec<String> = ["mnt", "pid", "net", "ipc", "uts"]
        .iter()
        .map(|n| {
            fs::read_link(format!("/proc/{pid}/ns/{n}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), host);
    // Its cgroup: the container's (whose leaf is named after the container ID).
    let (_, cgroups, _) = run(&h, &id, cmd(&["cat", "/proc/self/cgroup"])).await;
    let memory = cgroups
        .lines()
        .find(|l| l.contains(":memory:") || l.starts_with("0::"))
        .unwrap_or_else(|| panic!("{cgroups}"));
    if h.rt.cgroup_mode() == node_runtime::cgroup::CgroupMode::V1 {
        assert!(memory.ends_with(&id), "{memory}");
    }

    // Neither the exec'd process nor the container's inherits the helper's ignored SIGPIPE.
    let (_, status, _) = run(&h, &id, cmd(&["cat", "/proc/self/status"])).await;
    assert!(!ignores_sigpipe(&status), "{status}");
    let app_status = h.log_lines("app", Stream::Stdout);
    assert!(!ignores_sigpipe(&app_status[0]), "{app_status:?}");
    let (code, out, _) = run(&h, &id, cmd(&["sh", "-c", "yes | head -n 2"])).await;
    assert_eq!((code, out.as_str()), (0, "y\ny\n"));

    // Nothing of the execs is left in libcontainer's state dir.
    let state = h.dir.path().join("run/libcontainer").join(&id);
    let left: Vec<String> = fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("exec-") || n.starts_with("tenant-tty-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    h.remove_and_check_clean(&sb, &[(id, pid)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_executable_and_a_stopped_container_are_clear_errors() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("exec-errors"))
            .await
            .unwrap();
    let id = h.run(&sb, h.container("sleeper", "exec sleep 3600")).await;
    let pid = h.rt.container_status(&id).unwrap().pid.unwrap();

    let err = h.rt.exec(&id, cmd(&["nope"])).await.unwrap_err();
    assert!(
        matches!(&err, Error::ExecNotFound { executable, .. } if executable == "nope"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("\"nope\": executable file not found in $PATH"),
        "{err}"
    );
    let err =
        h.rt.exec_sync(&id, &args(&["/bin/nope"]), Duration::from_secs(5))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ExecNotFound { .. }), "{err:?}");
    // The container is unharmed.
    assert_eq!(run(&h, &id, cmd(&["true"])).await.0, 0);

    h.rt.stop_container(&id, Duration::ZERO).await.unwrap();
    assert_eq!(
        h.rt.container_status(&id).unwrap().state,
        ContainerState::Exited
    );
    let err = h.rt.exec(&id, cmd(&["true"])).await.unwrap_err();
    assert!(matches!(err, Error::BadState { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("container {id} is Exited, cannot exec in it")
    );
    let err =
        h.rt.exec(&"0".repeat(32), cmd(&["true"]))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ContainerNotFound(_)), "{err:?}");

    h.remove_and_check_clean(&sb, &[(id, pid)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sync_collects_output_and_kills_what_outlives_its_timeout() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("exec-sync"))
            .await
            .unwrap();
    let id = h.run(&sb, h.container("sleeper", "exec sleep 3600")).await;
    let pid = h.rt.container_status(&id).unwrap().pid.unwrap();

    let (code, out) =
        h.rt.exec_sync(
            &id,
            &args(&["sh", "-c", "echo out; echo err >&2; exit 2"]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 2);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["err", "out"]);

    // Output beyond the cap is read (the process finishes) but not kept.
    let (code, out) =
        h.rt.exec_sync(
            &id,
            &args(&["head", "-c", "1000000", "/dev/zero"]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(
        (code, out.len()),
        (0, node_runtime::exec::EXEC_SYNC_MAX_OUTPUT)
    );

    let t = Instant::now();
    let err =
        h.rt.exec_sync(&id, &args(&["sleep", "4242"]), Duration::from_secs(1))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ExecTimeout { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(processes_running(&["sleep", "4242"]), Vec::<i32>::new());

    // A shell's children go with it (they are in its process group).
    let err =
        h.rt.exec_sync(
            &id,
            &args(&["sh", "-c", "sleep 4343; echo never"]),
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ExecTimeout { .. }), "{err:?}");
    assert_eq!(processes_running(&["sleep", "4343"]), Vec::<i32>::new());

    // kill(), and dropping the handle, end the process too.
    let mut p = h.rt.exec(&id, cmd(&["sleep", "4444"])).await.unwrap();
    assert_eq!(processes_running(&["sleep", "4444"]).len(), 1);
    p.kill();
    assert_eq!(p.wait().await.unwrap(), 137);
    assert_eq!(processes_running(&["sleep", "4444"]), Vec::<i32>::new());
    let p = h.rt.exec(&id, cmd(&["sleep", "4545"])).await.unwrap();
    assert_eq!(processes_running(&["sleep", "4545"]).len(), 1);
    drop(p);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_running(&["sleep", "4545"]).is_empty() {
        assert!(Instant::now() < deadline, "a dropped exec keeps running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    h.remove_and_check_clean(&sb, &[(id, pid)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_with_stdin_and_exec_on_a_terminal() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("exec-io"))
            .await
            .unwrap();
    let id = h.run(&sb, h.container("sleeper", "exec sleep 3600")).await;
    let pid = h.rt.container_status(&id).unwrap().pid.unwrap();

    let mut req = cmd(&["cat"]);
    req.stdin = true;
    let mut p = h.rt.exec(&id, req).await.unwrap();
    let mut stdin = p.stdin.take().expect("stdin");
    stdin.write_all(b"abc\n").await.unwrap();
    drop(stdin);
    assert_eq!(read_to_string(p.stdout.take()).await, "abc\n");
    assert_eq!(p.wait().await.unwrap(), 0);
    assert!(h
        .rt
        .exec(&id, cmd(&["true"]))
        .await
        .unwrap()
        .stdin
        .is_none());

    // A terminal made in the container: `tty` names it, the shell sees a terminal on its
    // stdin, a resize reaches it, typed input arrives (and is echoed, as terminals do).
    let req = ExecRequest {
        args: args(&[
            "sh",
            "-c",
            "tty; test -t 0 && test -t 1 && echo is-a-tty; read line; stty size; echo got:$line",
        ]),
        env: vec![],
        tty: true,
        stdin: true,
    };
    let mut p: ExecProcess = h.rt.exec(&id, req).await.unwrap();
    assert!(p.stderr.is_none());
    let mut out = p.stdout.take().unwrap();
    let mut seen = String::new();
    read_until(&mut *out, &mut seen, "is-a-tty").await;
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    p.resize(100, 30).unwrap();
    p.stdin
        .as_mut()
        .unwrap()
        .write_all(b"typed\n")
        .await
        .unwrap();
    read_until(&mut *out, &mut seen, "got:typed").await;
    assert!(seen.contains("30 100"), "{seen:?}");
    assert!(seen.contains("\r\n"), "terminal line endings: {seen:?}");
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).await.unwrap();
    assert_eq!(p.wait().await.unwrap(), 0);
    // Without a terminal, resizing is a no-op.
    let mut plain = h.rt.exec(&id, cmd(&["true"])).await.unwrap();
    plain.resize(80, 24).unwrap();
    assert_eq!(plain.wait().await.unwrap(), 0);

    h.remove_and_check_clean(&sb, &[(id, pid)]).await;
}

/// Waits until the container's stdout log holds `want`.
async fn until_logged(h: &Harness, name: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines: Vec<String> = h
            .log_lines(name, Stream::Stdout)
            .into_iter()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        if lines.iter().map(String::as_str).collect::<Vec<_>>() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "log of {name}: {lines:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_stdin_reaches_the_container_and_stdin_once_ends_it() {
    let h = harness();
    let sb =
        h.rt.run_pod_sandbox(h.sandbox_config("attach"))
            .await
            .unwrap();
    let mut cfg = h.container("cat", "cat; echo cat-ended");
    cfg.stdin = true;
    let cat = h.run(&sb, cfg).await;
    let cat_pid = h.rt.container_status(&cat).unwrap().pid.unwrap();
    for (i, line) in ["hello", "again"].iter().enumerate() {
        let mut w = h.rt.attach_stdin(&cat).await.unwrap().expect("has stdin");
        w.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        until_logged(&h, "cat", &["hello", "again"][..=i]).await;
    }
    // Sessions ended, yet stdin stays open: `cat` still runs.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.rt.container_status(&cat).unwrap().state,
        ContainerState::Running
    );

    let mut cfg = h.container("once", "cat; echo stdin-closed");
    cfg.stdin = true;
    cfg.stdin_once = true;
    let once = h.run(&sb, cfg).await;
    let mut w = h.rt.attach_stdin(&once).await.unwrap().expect("has stdin");
    w.write_all(b"only\n").await.unwrap();
    drop(w);
    let exit =
        h.rt.wait_container(&once, Duration::from_secs(20))
            .await
            .unwrap()
            .expect("exits on end of stdin");
    assert_eq!(exit.exit_code, 0);
    until_logged(&h, "once", &["only", "stdin-closed"]).await;
    assert!(h.rt.attach_stdin(&once).await.is_err());

    let plain = h.run(&sb, h.container("plain", "exec sleep 3600")).await;
    let plain_pid = h.rt.container_status(&plain).unwrap().pid.unwrap();
    assert!(h.rt.attach_stdin(&plain).await.unwrap().is_none());

    h.remove_and_check_clean(&sb, &[(cat, cat_pid), (plain, plain_pid)])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tty_container_logs_its_terminal_and_takes_resizes_and_input() {
    let h = harness();
    let sb = h.rt.run_pod_sandbox(h.sandbox_config("tty")).await.unwrap();
    let mut cfg = h.container(
        "term",
        "tty; while [ \"$(stty size 2>/dev/null)\" != '30 100' ]; do sleep 0.05; done; echo resized; read line; echo got:$line",
    );
    cfg.tty = true;
    cfg.stdin = true;
    let id = h.run(&sb, cfg).await;
    let pid = h.rt.container_status(&id).unwrap().pid.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.log_lines("term", Stream::Stdout).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no output from the tty container"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = h.log_lines("term", Stream::Stdout)[0].clone();
    assert!(first.starts_with("/dev/pts/"), "{first:?}");
    h.rt.resize_container_tty(&id, 100, 30).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.log_lines("term", Stream::Stdout).len() < 2 {
        assert!(Instant::now() < deadline, "no resize seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut w = h.rt.attach_stdin(&id).await.unwrap().expect("has stdin");
    w.write_all(b"typed\n").await.unwrap();
    drop(w);
    let exit =
        h.rt.wait_container(&id, Duration::from_secs(20))
            .await
            .unwrap()
            .expect("exits");
    assert_eq!(exit.exit_code, 0);
    let lines: Vec<String> = h
        .log_lines("term", Stream::Stdout)
        .into_iter()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    // The terminal echoes what is typed, as it would on a screen.
    assert_eq!(lines[1..], ["resized", "typed", "got:typed"], "{lines:?}");
    assert!(h.log_lines("term", Stream::Stderr).is_empty());
    // Once the container is gone, resizing is an error, not a hang.
    let err = h.rt.resize_container_tty(&id, 80, 24).unwrap_err();
    assert!(matches!(err, Error::BadState { .. }), "{err:?}");

    h.remove_and_check_clean(&sb, &[(id, pid)]).await;
}
