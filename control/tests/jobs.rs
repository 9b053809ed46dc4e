//! The batch controllers inside `control serve`, seen through kubectl, with simulated nodes
//! (`control sim-nodes`) playing the kubelet: Jobs run to completion or fail by their backoff
//! limit or active deadline, finished Jobs go after their TTL, CronJobs start Jobs on schedule.

mod support;

use support::{eventually, Server, SimNodes};

/// Two simulated nodes whose job pods run for `job_duration` (e.g. "1s").
fn sim_nodes(s: &Server, job_duration: &str) -> SimNodes {
    SimNodes::start(s, "batch", 2, &["--job-duration", job_duration])
}

fn seed(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seeds")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn jsonpath(s: &Server, what: &str, path: &str) -> String {
    s.kubectl(&["get", what, "-o", &format!("jsonpath={path}")])
}

/// A Job whose single container runs `script` with restartPolicy Never.
fn job_yaml(name: &str, script: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{extra_spec}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "{script}"]
"#
    )
}

#[test]
fn the_seed_job_completes_with_two_of_two() {
    let s = Server::start();
    let _nodes = sim_nodes(&s, "1s");
    s.kubectl(&["apply", "-f", &seed("000-job.yaml")]);
    s.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/job-example",
        "--timeout=60s",
    ]);
    let table = s.kubectl(&["get", "job", "job-example"]);
    let row = table.lines().nth(1).unwrap_or_default().to_string();
    assert!(row.contains("Complete") && row.contains("2/2"), "{table}");
    assert_eq!(jsonpath(&s, "job/job-example", "{.status.succeeded}"), "2");
    assert_eq!(
        jsonpath(
            &s,
            "job/job-example",
            "{.status.conditions[*].type}/{.status.conditions[*].reason}"
        ),
        "SuccessCriteriaMet Complete/CompletionsReached CompletionsReached"
    );
    assert!(!jsonpath(&s, "job/job-example", "{.status.completionTime}").is_empty());
    // Its pods: two, generated from the Job's name, labelled and owned by it, succeeded.
    let pods = s.kubectl(&[
        "get",
        "pods",
        "-l",
        "batch.kubernetes.io/job-name=job-example",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.metadata.ownerReferences[0].kind}{\"\\n\"}{end}",
    ]);
    let lines: Vec<&str> = pods.lines().collect();
    assert_eq!(lines.len(), 2, "{pods}");
    for line in lines {
        assert!(line.starts_with("job-example-"), "{line}");
        assert!(line.ends_with(" Succeeded Job"), "{line}");
    }
    let events = s.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=job-example",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(
        events.contains("SuccessfulCreate") && events.contains("Completed"),
        "{events}"
    );
}

#[test]
fn a_failing_job_stops_after_backoff_limit_plus_one_failures() {
    let s = Server::start();
    let _nodes = sim_nodes(&s, "1s");
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(&job_yaml(
            "doomed",
            "echo trying; exit 3",
            "  backoffLimit: 1",
        )),
    );
    // One failure, a 10 s pod failure backoff, a second failure: the limit of 1 is exceeded.
    s.kubectl(&[
        "wait",
        "--for=condition=failed",
        "job/doomed",
        "--timeout=90s",
    ]);
    assert_eq!(
        jsonpath(
            &s,
            "job/doomed",
            "{.status.conditions[?(@.type==\"Failed\")].reason}"
        ),
        "BackoffLimitExceeded"
    );
    assert_eq!(
        jsonpath(
            &s,
            "job/doomed",
            "{.status.conditions[?(@.type==\"Failed\")].message}"
        ),
        "Job has reached the specified backoff limit"
    );
    assert_eq!(jsonpath(&s, "job/doomed", "{.status.failed}"), "2");
    let phases = s.kubectl(&[
        "get",
        "pods",
        "-l",
        "job-name=doomed",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ]);
    assert_eq!(phases, "Failed Failed");
    let table = s.kubectl(&["get", "job", "doomed"]);
    assert!(table.contains("Failed") && table.contains("0/1"), "{table}");
}

#[test]
fn active_deadline_fails_a_job_and_stops_its_pods() {
    let s = Server::start();
    // Pods that would run for ten minutes.
    let _nodes = sim_nodes(&s, "600s");
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(&job_yaml(
            "slow",
            "sleep 600",
            "  activeDeadlineSeconds: 3\n  parallelism: 2\n  completions: 2",
        )),
    );
    let running = || {
        s.kubectl(&[
            "get",
            "pods",
            "-l",
            "job-name=slow",
            "-o",
            "jsonpath={.items[*].status.phase}",
        ])
    };
    assert!(
        eventually(30, || running() == "Running Running"),
        "pods: {}",
        running()
    );
    s.kubectl(&[
        "wait",
        "--for=condition=failed",
        "job/slow",
        "--timeout=60s",
    ]);
    assert_eq!(
        jsonpath(
            &s,
            "job/slow",
            "{.status.conditions[?(@.type==\"Failed\")].reason}"
        ),
        "DeadlineExceeded"
    );
    assert_eq!(
        jsonpath(&s, "job/slow", "{.status.conditions[*].type}"),
        "FailureTarget Failed"
    );
    assert_eq!(jsonpath(&s, "job/slow", "{.status.active}"), "");
    // The terminal condition waited for the pods to go.
    assert_eq!(running(), "");
}

#[test]
fn a_finished_job_is_deleted_after_its_ttl() {
    let s = Server::start();
    let _nodes = sim_nodes(&s, "1s");
    s.kubectl_in(
        &["apply", "-f", "-"],
        Some(&job_yaml(
            "brief",
            "echo hi",
            "  ttlSecondsAfterFinished: 3",
        )),
    );
    s.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/brief",
        "--timeout=60s",
    ]);
    let gone = || {
        let out = s.kubectl_raw(&["get", "job", "brief"], None);
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
    };
    assert!(eventually(30, gone), "the job outlived its TTL");
    // Background propagation: the garbage collector takes its pods.
    let pods = || s.kubectl(&["get", "pods", "-l", "job-name=brief", "-o", "name"]);
    assert!(
        eventually(30, || pods().is_empty()),
        "pods left: {}",
        pods()
    );
}

#[test]
fn the_seed_cronjob_starts_jobs_and_can_be_run_by_hand() {
    let s = Server::start();
    let _nodes = sim_nodes(&s, "1s");
    s.kubectl(&["apply", "-f", &seed("000-cronjob-as-batch-v1.yaml")]);

    // kubectl builds the manual Job itself from the template, owned by the CronJob.
    s.kubectl(&["create", "job", "by-hand", "--from=cronjob/cronjob-example"]);
    assert_eq!(
        jsonpath(
            &s,
            "job/by-hand",
            "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}"
        ),
        "CronJob/cronjob-example manual"
    );
    s.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/by-hand",
        "--timeout=60s",
    ]);

    // The schedule is every minute: the first scheduled Job appears within ~60 s.
    let scheduled = || {
        s.kubectl(&[
            "get",
            "jobs",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        ])
        .lines()
        .filter(|n| n.starts_with("cronjob-example-"))
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    assert!(
        eventually(80, || !scheduled().is_empty()),
        "no job was scheduled"
    );
    let name = scheduled()[0].clone();
    let minutes: i64 = name["cronjob-example-".len()..].parse().unwrap();
    let stamp = jsonpath(
        &s,
        &format!("job/{name}"),
        "{.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp}",
    );
    let at: jiff::Timestamp = stamp.parse().unwrap();
    assert_eq!(at.as_second(), minutes * 60, "{stamp} vs {name}");
    assert_eq!(
        jsonpath(
            &s,
            &format!("job/{name}"),
            "{.metadata.ownerReferences[0].name}"
        ),
        "cronjob-example"
    );
    let last = jsonpath(&s, "cronjob/cronjob-example", "{.status.lastScheduleTime}");
    assert_eq!(last.parse::<jiff::Timestamp>().ok(), Some(at));
    // It runs to completion and the CronJob notices.
    s.kubectl(&[
        "wait",
        "--for=condition=complete",
        &format!("job/{name}"),
        "--timeout=60s",
    ]);
    let success = || {
        jsonpath(
            &s,
            "cronjob/cronjob-example",
            "{.status.lastSuccessfulTime}",
        )
    };
    assert!(
        eventually(20, || !success().is_empty()),
        "no lastSuccessfulTime"
    );
    let active = || jsonpath(&s, "cronjob/cronjob-example", "{.status.active}");
    assert!(
        eventually(20, || active().is_empty()),
        "still active: {}",
        active()
    );
    let table = s.kubectl(&["get", "cronjob", "cronjob-example"]);
    assert!(table.contains("*/1 * * * *"), "{table}");
}
