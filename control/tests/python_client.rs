//! The official Python Kubernetes client (PyPI `kubernetes`, installed by `.ci/run`) against a
//! served control plane.

mod support;

use support::Server;

#[test]
fn the_python_client_works_unchanged() {
    let s = Server::start();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_smoke.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(s.kubeconfig())
        .output()
        .expect("python3 must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{stderr}\nserver log: {}",
        s.log()
    );
    assert!(stdout.contains("ok 404 after delete"), "{stdout}");
}
