//! Leader election among several processes offering the scheduler and controllers: two
//! `control controllers` processes against one API server, exactly one acts, and when it dies
//! the other takes over its Lease and carries on.

mod support;

use std::process::{Child, Command, Stdio};

use support::{eventually, Server};

struct Brain {
    child: Child,
    log: std::path::PathBuf,
}

impl Brain {
    fn start(s: &Server, name: &str) -> Brain {
        let log = s.data_dir().join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_control"))
            .args(["controllers", "--kubeconfig"])
            .arg(s.kubeconfig())
            .args(["--disable-node-lifecycle", "--log", "info"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start control controllers");
        Brain { child, log }
    }

    /// The identity it campaigns with, from its first log line.
    fn identity(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("controllers: campaigning as "))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Brain {
    fn drop(&mut self) {
        self.kill();
    }
}

fn holder(s: &Server, lease: &str) -> String {
    s.kubectl_raw(
        &[
            "get",
            "lease",
            "-n",
            "kube-system",
            lease,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    )
    .stdout
    .iter()
    .map(|b| *b as char)
    .collect()
}

fn pods(s: &Server) -> usize {
    s.kubectl(&["get", "pods", "-l", "app=web", "-o", "name"])
        .lines()
        .count()
}

#[test]
fn one_of_two_brains_acts_and_the_other_takes_over() {
    // The API server alone: no loops of its own.
    let s = Server::start_with(&[
        "--disable-scheduler",
        "--disable-controllers",
        "--disable-node-lifecycle",
        "--disable-node-ipam",
    ]);
    let mut a = Brain::start(&s, "a");
    let mut b = Brain::start(&s, "b");
    assert!(
        eventually(30, || !a.identity().is_empty() && !b.identity().is_empty()),
        "brains did not start"
    );
    let (ida, idb) = (a.identity(), b.identity());
    assert_ne!(ida, idb);
    assert!(
        eventually(30, || {
            let h = holder(&s, "kube-controller-manager");
            h == ida || h == idb
        }),
        "no controller-manager leader: {:?}",
        holder(&s, "kube-controller-manager")
    );
    let sched = holder(&s, "kube-scheduler");
    assert!(sched == ida || sched == idb, "scheduler lease: {sched:?}");

    // Both processes run the ReplicaSet controller's code, but only the leader acts: a
    // Deployment of 3 gets exactly 3 pods, and stays there.
    s.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    assert!(eventually(30, || pods(&s) == 3), "pods: {}", pods(&s));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(pods(&s), 3, "a second brain acted");

    // Kill the leader; the other takes the Lease over once it expires and carries on.
    let leader = holder(&s, "kube-controller-manager");
    let (lead_log, follow_log) = if leader == ida {
        (&a.log, &b.log)
    } else {
        (&b.log, &a.log)
    };
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(
        read(lead_log).contains("pods created"),
        "{}",
        read(lead_log)
    );
    let follower = read(follow_log);
    assert!(
        !follower.contains("pods created")
            && !follower
                .lines()
                .any(|l| l.contains("became leader") && l.contains("kube-controller-manager")),
        "the follower acted: {follower}"
    );
    let survivor = if leader == ida {
        a.kill();
        idb
    } else {
        b.kill();
        ida
    };
    assert!(
        eventually(60, || holder(&s, "kube-controller-manager") == survivor),
        "lease holder after the leader died: {:?}",
        holder(&s, "kube-controller-manager")
    );
    let transitions = s.kubectl(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-controller-manager",
        "-o",
        "jsonpath={.spec.leaseTransitions}",
    ]);
    assert!(
        transitions.parse::<i64>().unwrap_or(0) >= 1,
        "leaseTransitions: {transitions}"
    );
    s.kubectl(&["scale", "deployment", "web", "--replicas=5"]);
    assert!(eventually(30, || pods(&s) == 5), "pods: {}", pods(&s));
}
