//! The built executable, run as a container runtime would run it: statuses, output streams,
//! the shell, and SIGTERM while serving.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn testapp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_testapp"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn print_exit_and_stderr_give_their_output_and_statuses() {
    let out = testapp(&["print", "3", "hello"]);
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "line 1 hello\nline 2 hello\nline 3 hello\n")
    );
    assert_eq!(testapp(&["exit", "42"]).status.code(), Some(42));
    assert_eq!(testapp(&["false"]).status.code(), Some(1));
    let out = testapp(&["stderr", "bad", "thing"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "bad thing\n");
    assert!(out.stdout.is_empty());
    let out = testapp(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command"));
}

#[test]
fn sh_reads_commands_from_stdin_and_exits_with_the_given_status() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_testapp"))
        .arg("sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"two  words\"\nls /nonexistent-dir\nnosuch\n\nexit 5\necho never\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stdout(&out), "two  words\n", "no prompt without a terminal");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ls: /nonexistent-dir"), "{err}");
    assert!(err.contains("sh: nosuch: not found"), "{err}");

    let out = testapp(&["sh", "-c", "hostname"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stdout(&out).trim().is_empty());
}

#[test]
fn alloc_touches_the_memory_it_reports() {
    let out = testapp(&["alloc", "16"]);
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "allocated 16 MiB\n")
    );
}

#[test]
fn serve_answers_then_exits_zero_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_testapp"))
        .args(["serve", "--port", "0", "--fail-after", "0.3"])
        .env("POD_IP", "10.9.8.7")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let port: u16 = first
        .strip_prefix("serving on :")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .parse()
        .unwrap();

    let get = |path: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw
    };
    let root = get("/");
    assert!(root.starts_with("HTTP/1.1 200 "), "{root}");
    assert!(root.contains("\r\n\r\nhostname="), "{root}");
    assert!(root.contains("\npod_ip=10.9.8.7\n"), "{root}");
    assert!(root.contains("\nPOD_IP=10.9.8.7\n"), "{root}");
    let logged = lines.next().unwrap().unwrap();
    assert!(
        logged.starts_with("127.0.0.1:") && logged.ends_with(" GET / 200"),
        "one log line per request: {logged:?}"
    );

    // --fail-after 0.3: healthz turns to 500 on its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !get("/healthz").starts_with("HTTP/1.1 500 ") {
        assert!(Instant::now() < deadline, "/healthz never failed");
        std::thread::sleep(Duration::from_millis(50));
    }

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}
