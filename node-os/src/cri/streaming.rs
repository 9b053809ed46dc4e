//! The kubelet API's view of this node's pods ([`KubeletBackend`]): pods and containers are
//! found by name in the runtime service's records, logs are the CRI files the shims write,
//! exec and attach go to `node-runtime`, and port-forward connects from inside the pod's
//! network namespace.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::AsyncWrite;

use super::records::{ContainerRecord, SandboxRecord};
use super::NodeRuntime;
use crate::kubelet::server::backend::{BackendError, ExecSession, KubeletBackend};

pub struct NodeStreaming {
    pub runtime: Arc<NodeRuntime>,
}

/// Which instance of a container a request means.
fn pick_instance(mut instances: Vec<&ContainerRecord>, previous: bool) -> Option<&ContainerRecord> {
    instances.sort_by_key(|c| c.attempt);
    let n = instances.len();
    if previous {
        n.checked_sub(2).map(|i| instances[i])
    } else {
        instances.last().copied()
    }
}

/// The container name a request means: the given one, or the only one the pod has.
fn container_name(names: &[String], pod: &str, given: &str) -> Result<String, BackendError> {
    if !given.is_empty() {
        return Ok(given.to_string());
    }
    match names {
        [only] => Ok(only.clone()),
        _ => Err(BackendError::BadRequest(format!(
            "a container name must be specified for pod {pod}, choose one of: [{}]",
            names.join(" ")
        ))),
    }
}

/// A log file and its rotated predecessors (`0.log.<stamp>`), oldest first.
fn with_rotated(path: &std::path::Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return vec![path.to_path_buf()];
    };
    let prefix = format!("{name}.");
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|e| e.path())
        .collect();
    rotated.sort();
    rotated.push(path.to_path_buf());
    rotated
}

impl NodeStreaming {
    fn sandbox(&self, namespace: &str, pod: &str) -> Result<SandboxRecord, BackendError> {
        let mut found: Vec<SandboxRecord> = self
            .runtime
            .sandbox_records()
            .into_iter()
            .filter(|s| s.config.namespace == namespace && s.config.name == pod)
            .collect();
        found.sort_by_key(|s| (s.ready, s.created_at));
        found
            .pop()
            .ok_or_else(|| BackendError::NotFound(format!("pod \"{pod}\" does not exist")))
    }

    fn container(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<ContainerRecord, BackendError> {
        let sandbox = self.sandbox(namespace, pod)?;
        let all: Vec<ContainerRecord> = self
            .runtime
            .container_records()
            .into_iter()
            .filter(|c| c.pod_uid == sandbox.config.uid)
            .collect();
        let mut names: Vec<String> = all.iter().map(|c| c.name.clone()).collect();
        names.sort();
        names.dedup();
        let name = container_name(&names, pod, container)?;
        let mine: Vec<&ContainerRecord> = all.iter().filter(|c| c.name == name).collect();
        if mine.is_empty() {
            return Err(BackendError::NotFound(format!(
                "container \"{name}\" in pod \"{pod}\" is waiting to start or does not exist"
            )));
        }
        pick_instance(mine, previous).cloned().ok_or_else(|| {
            BackendError::BadRequest(format!(
                "previous terminated container \"{name}\" in pod \"{pod}\" not found"
            ))
        })
    }

    fn running(&self, id: &str) -> bool {
        self.runtime
            .runtime()
            .container_status(id)
            .is_ok_and(|s| s.state == node_runtime::ContainerState::Running)
    }
}

enum Control {
    Resize(u16, u16),
    Kill,
}

impl KubeletBackend for NodeStreaming {
    async fn log_files(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<Vec<PathBuf>, BackendError> {
        let c = self.container(namespace, pod, container, previous)?;
        Ok(with_rotated(&c.log_path))
    }

    async fn container_running(&self, namespace: &str, pod: &str, container: &str) -> bool {
        self.container(namespace, pod, container, false)
            .is_ok_and(|c| self.running(&c.id))
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        cmd: Vec<String>,
        tty: bool,
        stdin: bool,
    ) -> Result<ExecSession, BackendError> {
        let c = self.container(namespace, pod, container, false)?;
        if !self.running(&c.id) {
            return Err(BackendError::BadRequest(format!(
                "container {} is not running",
                c.name
            )));
        }
        let req = node_runtime::ExecRequest {
            args: cmd,
            env: Vec::new(),
            tty,
            stdin,
        };
        let mut p = self
            .runtime
            .runtime()
            .exec(&c.id, req)
            .await
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        let (stdin, stdout, stderr) = (p.stdin.take(), p.stdout.take(), p.stderr.take());
        // The process is owned by the exit future; resize and kill reach it through a
        // channel, handled between polls of its (cancel-safe) wait.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Control>();
        let exit = async move {
            loop {
                tokio::select! {
                    r = p.wait() => return r.map_err(|e| e.to_string()),
                    Some(cmd) = rx.recv() => match cmd {
                        Control::Resize(c, r) => { let _ = p.resize(c, r); }
                        Control::Kill => p.kill(),
                    },
                }
            }
        };
        let resize_tx = tx.clone();
        Ok(ExecSession {
            stdin,
            stdout,
            stderr,
            exit: Box::pin(exit),
            resize: tty.then(|| {
                Box::new(move |c: u16, r: u16| {
                    let _ = resize_tx.send(Control::Resize(c, r));
                }) as Box<dyn Fn(u16, u16) + Send + Sync>
            }),
            cancel: Some(Box::new(move || {
                let _ = tx.send(Control::Kill);
            })),
        })
    }

    async fn attach_stdin(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<Option<Box<dyn AsyncWrite + Send + Unpin>>, BackendError> {
        let c = self.container(namespace, pod, container, false)?;
        self.runtime
            .runtime()
            .attach_stdin(&c.id)
            .await
            .map_err(|e| BackendError::Internal(e.to_string()))
    }

    async fn port_forward(
        &self,
        namespace: &str,
        pod: &str,
        uid: Option<&str>,
        port: u16,
    ) -> Result<tokio::net::TcpStream, BackendError> {
        let sandbox = self.sandbox(namespace, pod)?;
        if uid.is_some_and(|u| !u.is_empty() && u != sandbox.config.uid) {
            return Err(BackendError::NotFound(format!(
                "pod \"{pod}\" does not exist"
            )));
        }
        let fail = |e: std::io::Error| {
            BackendError::Internal(format!("error forwarding port {port} to pod {pod}: {e}"))
        };
        let connect = move || -> std::io::Result<std::net::TcpStream> {
            let s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_nonblocking(true)?;
            Ok(s)
        };
        // A socket belongs to the namespace it was made in, so it is made by a thread that
        // entered the pod's, then used from here.
        let std_stream = match self.runtime.sandbox_netns(&sandbox.id) {
            Some(ns) => {
                tokio::task::spawn_blocking(move || crate::network::netlink::in_netns(&ns, connect))
                    .await
                    .map_err(|e| BackendError::Internal(e.to_string()))?
                    .map_err(fail)?
            }
            None => connect().map_err(fail)?,
        };
        tokio::net::TcpStream::from_std(std_stream).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, attempt: u32) -> ContainerRecord {
        ContainerRecord {
            id: format!("{name}-{attempt}"),
            sandbox_id: "s".into(),
            pod_uid: "u".into(),
            name: name.into(),
            attempt,
            image: String::new(),
            image_ref: String::new(),
            log_path: PathBuf::new(),
            labels: Default::default(),
        }
    }

    #[test]
    fn the_current_and_previous_instances_are_the_two_latest_attempts() {
        let (a0, a1, a2) = (rec("a", 0), rec("a", 1), rec("a", 2));
        let all = vec![&a1, &a2, &a0];
        assert_eq!(pick_instance(all.clone(), false).unwrap().id, "a-2");
        assert_eq!(pick_instance(all, true).unwrap().id, "a-1");
        assert!(pick_instance(vec![&a0], true).is_none());
    }

    #[test]
    fn a_pod_with_several_containers_needs_a_name() {
        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(container_name(&names, "p", "b").unwrap(), "b");
        assert_eq!(container_name(&names[..1], "p", "").unwrap(), "a");
        let e = container_name(&names, "p", "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a container name must be specified for pod p, choose one of: [a b]"
        );
    }
}
