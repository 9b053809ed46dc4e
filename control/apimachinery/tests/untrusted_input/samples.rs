//! Valid objects of every served kind, rich enough that mutations reach deep validation,
//! defaulting and printing paths, with the status fields the table printers read.

use serde_json::{json, Value};

/// The fixed "now" of every table test.
pub const NOW: &str = "2024-05-01T12:00:00Z";

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for digit in 0..4 {
            if digit <= chunk.len() {
                out.push(char::from(
                    ALPHABET[((n >> (18 - 6 * digit)) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({
        "name": name,
        "labels": {"app": "web", "app.kubernetes.io/name": "web"},
        "annotations": {"example.com/note": "hello"},
        "creationTimestamp": "2024-05-01T11:00:00Z",
        "finalizers": ["example.com/a", "example.com/b"]
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// A pod spec touching most of what pod validation and defaulting look at.
pub fn pod_spec() -> Value {
    json!({
        "initContainers": [
            {"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]},
            {"name": "sidecar", "image": "envoy", "restartPolicy": "Always"}
        ],
        "containers": [
            {
                "name": "nginx",
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "ports": [
                    {"name": "http", "containerPort": 80, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090}
                ],
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                    {"name": "CFG", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}
                ],
                "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "500m", "memory": "128Mi", "ephemeral-storage": "1Gi"}
                },
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true}
                ],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
                "readinessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 1},
                "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
            },
            {"name": "sidecar2", "image": "busybox", "args": ["sleep", "3600"], "stdin": true, "tty": true}
        ],
        "volumes": [
            {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "k", "path": "k.txt", "mode": 420}]}},
            {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {"name": "proj", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}
            ]}}
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "activeDeadlineSeconds": 600,
        "dnsPolicy": "ClusterFirst",
        "dnsConfig": {"nameservers": ["10.96.0.10"], "searches": ["svc.cluster.local"], "options": [{"name": "ndots", "value": "5"}]},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "builder",
        "hostname": "web-0",
        "subdomain": "web",
        "securityContext": {"fsGroup": 2000, "sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}], "seccompProfile": {"type": "RuntimeDefault"}},
        "imagePullSecrets": [{"name": "regcred"}],
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}
            ]}},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}}
            ]}
        },
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
        ],
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}
        ],
        "hostAliases": [{"ip": "10.0.0.5", "hostnames": ["db.local"]}],
        "priority": 0,
        "schedulingGates": [{"name": "example.com/gate"}]
    })
}

/// A job-friendly pod template (restartPolicy Never, no probes on init containers).
fn job_template() -> Value {
    json!({
        "metadata": {"labels": {"app": "batch"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "work", "image": "busybox", "command": ["sh", "-c", "echo hi"],
                            "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]
        }
    })
}

/// A workload's pod template: the pod spec without what only bare pods may set.
fn template() -> Value {
    let mut spec = pod_spec();
    spec.as_object_mut()
        .expect("an object")
        .shift_remove("activeDeadlineSeconds");
    json!({"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": spec})
}

fn pod_status() -> Value {
    json!({
        "phase": "Running",
        "podIP": "10.244.0.5",
        "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}],
        "hostIP": "10.0.0.2",
        "startTime": "2024-05-01T11:00:01Z",
        "nominatedNodeName": "node-2",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [
            {"name": "init", "ready": false, "restartCount": 0, "image": "busybox", "imageID": "", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "sidecar", "ready": true, "started": true, "restartCount": 2, "image": "envoy", "imageID": "", "state": {"running": {"startedAt": "2024-05-01T11:00:02Z"}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:30:00Z"}}}
        ],
        "containerStatuses": [
            {"name": "nginx", "ready": true, "restartCount": 3, "image": "nginx:1.27", "imageID": "", "state": {"running": {"startedAt": "2024-05-01T11:00:03Z"}},
             "lastState": {"terminated": {"exitCode": 137, "signal": 9, "finishedAt": "2024-05-01T11:50:00Z"}}},
            {"name": "sidecar2", "ready": false, "restartCount": 1, "image": "busybox", "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ],
        "qosClass": "Burstable"
    })
}

fn selector() -> Value {
    json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]})
}

/// `(apiVersion, kind, object)` for every served kind: valid, decodable without unknown
/// fields, with status where the kind has one.
pub fn all() -> Vec<(&'static str, &'static str, Value)> {
    let csr_pem = b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
    vec![
        (
            "v1",
            "Namespace",
            json!({"metadata": meta("team-a", None), "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        ),
        (
            "v1",
            "Pod",
            json!({"metadata": meta("web", Some("default")), "spec": pod_spec(), "status": pod_status()}),
        ),
        (
            "v1",
            "Service",
            json!({
                "metadata": meta("web", Some("default")),
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": "web"},
                    "ports": [
                        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                        {"name": "https", "port": 443, "targetPort": "https", "nodePort": 30443}
                    ],
                    "clusterIP": "10.96.0.20",
                    "clusterIPs": ["10.96.0.20"],
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "externalIPs": ["192.0.2.10"],
                    "sessionAffinity": "ClientIP",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
                    "loadBalancerSourceRanges": ["10.0.0.0/8"],
                    "externalTrafficPolicy": "Local",
                    "healthCheckNodePort": 31000,
                    "internalTrafficPolicy": "Cluster"
                },
                "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}}
            }),
        ),
        (
            "v1",
            "Endpoints",
            json!({"metadata": meta("web", Some("default")), "subsets": [
                {"addresses": [{"ip": "10.1.2.3", "targetRef": {"kind": "Pod", "name": "web", "namespace": "default"}}, {"ip": "fd00::3"}],
                 "notReadyAddresses": [{"ip": "10.1.2.4"}],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443}]}
            ]}),
        ),
        (
            "v1",
            "ConfigMap",
            json!({"metadata": meta("cfg", Some("default")), "data": {"app.properties": "a=b", "k": "v"}, "binaryData": {"bin": base64(b"\x00\x01\x02")}}),
        ),
        (
            "v1",
            "Secret",
            json!({"metadata": meta("s", Some("default")), "type": "Opaque", "data": {"password": base64(b"hunter2")}, "stringData": {"user": "admin"}}),
        ),
        (
            "v1",
            "ServiceAccount",
            json!({"metadata": meta("builder", Some("default")), "secrets": [{"name": "builder-token"}], "imagePullSecrets": [{"name": "regcred"}], "automountServiceAccountToken": false}),
        ),
        (
            "v1",
            "Node",
            json!({
                "metadata": {"name": "node-1", "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"}, "creationTimestamp": "2024-04-01T00:00:00Z"},
                "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24", "fd00:10:244::/64"], "providerID": "kind://node-1",
                         "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}], "unschedulable": true},
                "status": {
                    "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "hugepages-2Mi": "0"},
                    "allocatable": {"cpu": "3800m", "memory": "7Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
                    "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "ExternalIP", "address": "203.0.113.2"}, {"type": "Hostname", "address": "node-1"}],
                    "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian", "kernelVersion": "6.1", "containerRuntimeVersion": "containerd://1.7",
                                 "machineID": "", "systemUUID": "", "bootID": "", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}
                }
            }),
        ),
        (
            "v1",
            "Event",
            json!({
                "metadata": {"name": "web.17a", "namespace": "default", "creationTimestamp": "2024-05-01T11:59:00Z"},
                "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "fieldPath": "spec.containers{nginx}"},
                "reason": "Started", "message": "Started container  ", "type": "Normal",
                "source": {"component": "kubelet", "host": "node-1"},
                "firstTimestamp": "2024-05-01T11:00:00Z", "lastTimestamp": "2024-05-01T11:58:00Z", "count": 4,
                "reportingComponent": "kubelet", "reportingInstance": "node-1"
            }),
        ),
        (
            "v1",
            "ReplicationController",
            json!({"metadata": meta("rc", Some("default")), "spec": {"replicas": 3, "selector": {"app": "web"}, "template": template()},
            "status": {"replicas": 3, "readyReplicas": 2}}),
        ),
        (
            "v1",
            "ResourceQuota",
            json!({"metadata": meta("q", Some("default")),
            "spec": {"hard": {"pods": "10", "requests.cpu": "4", "limits.memory": "8Gi"}, "scopes": ["NotTerminating"]},
            "status": {"hard": {"pods": "10", "requests.cpu": "4", "limits.memory": "8Gi"}, "used": {"pods": "3", "requests.cpu": "500m"}}}),
        ),
        (
            "v1",
            "LimitRange",
            json!({"metadata": meta("lr", Some("default")), "spec": {"limits": [
                {"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}, "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "200m"}, "maxLimitRequestRatio": {"cpu": "10"}},
                {"type": "PersistentVolumeClaim", "max": {"storage": "10Gi"}, "min": {"storage": "1Gi"}}
            ]}}),
        ),
        (
            "apps/v1",
            "Deployment",
            json!({"metadata": meta("web", Some("default")), "spec": {
            "replicas": 3, "selector": selector(), "template": template(),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "minReadySeconds": 5, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2, "observedGeneration": 1}}),
        ),
        (
            "apps/v1",
            "ReplicaSet",
            json!({"metadata": meta("rs", Some("default")), "spec": {"replicas": 2, "selector": selector(), "template": template(), "minReadySeconds": 1},
            "status": {"replicas": 2, "readyReplicas": 1}}),
        ),
        (
            "apps/v1",
            "StatefulSet",
            json!({"metadata": meta("db", Some("default")), "spec": {
            "serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template(),
            "podManagementPolicy": "Parallel", "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1, "maxUnavailable": 1}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"}, "ordinals": {"start": 0}},
            "status": {"replicas": 2, "readyReplicas": 2}}),
        ),
        (
            "apps/v1",
            "DaemonSet",
            json!({"metadata": meta("agent", Some("kube-system")), "spec": {
            "selector": {"matchLabels": {"app": "web"}}, "template": template(),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 0}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2, "numberMisscheduled": 0}}),
        ),
        (
            "apps/v1",
            "ControllerRevision",
            json!({"metadata": {"name": "web-5d4f", "namespace": "default",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "0b5c7b4c-0000-4000-8000-000000000001", "controller": true}]},
            "data": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}, "revision": 2}),
        ),
        (
            "batch/v1",
            "Job",
            json!({"metadata": meta("pi", Some("default")), "spec": {
            "template": job_template(), "completions": 5, "parallelism": 2, "backoffLimit": 4, "completionMode": "Indexed",
            "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 100, "backoffLimitPerIndex": 1, "maxFailedIndexes": 2,
            "podFailurePolicy": {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}}, {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}},
            "status": {"startTime": "2024-05-01T11:00:00Z", "completionTime": "2024-05-01T11:10:00Z", "succeeded": 5,
                       "conditions": [{"type": "Complete", "status": "True"}]}}),
        ),
        (
            "batch/v1",
            "CronJob",
            json!({"metadata": meta("hello", Some("default")), "spec": {
            "schedule": "*/5 * * * *", "timeZone": "Europe/Paris", "concurrencyPolicy": "Forbid", "suspend": false,
            "startingDeadlineSeconds": 100, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"app": "batch"}}, "spec": {"template": job_template(), "backoffLimit": 2}}},
            "status": {"lastScheduleTime": "2024-05-01T11:55:00Z", "active": [{"kind": "Job", "name": "hello-1", "namespace": "default"}]}}),
        ),
        (
            "coordination.k8s.io/v1",
            "Lease",
            json!({"metadata": meta("leader", Some("kube-system")), "spec": {
            "holderIdentity": "a", "leaseDurationSeconds": 15, "acquireTime": "2024-05-01T11:00:00.000000Z", "renewTime": "2024-05-01T11:59:00.000000Z", "leaseTransitions": 2}}),
        ),
        (
            "discovery.k8s.io/v1",
            "EndpointSlice",
            json!({"metadata": meta("web-abc", Some("default")), "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": true, "serving": true}, "hostname": "web-0", "nodeName": "node-1", "zone": "z1",
                           "targetRef": {"kind": "Pod", "name": "web", "namespace": "default"}},
                          {"addresses": ["10.1.2.4"], "conditions": {"ready": false}}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "http"}]}),
        ),
        (
            "certificates.k8s.io/v1",
            "CertificateSigningRequest",
            json!({"metadata": {"name": "alice", "creationTimestamp": "2024-05-01T10:00:00Z"}, "spec": {
            "request": base64(csr_pem), "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth", "digital signature"],
            "expirationSeconds": 86400, "username": "alice", "groups": ["system:authenticated"]},
            "status": {"conditions": [{"type": "Approved", "status": "True", "reason": "AutoApproved", "message": "ok"}]}}),
        ),
    ]
}

/// The originals patched in the patch fuzzers: `(definition, object)`.
pub fn patch_originals() -> Vec<(&'static str, Value)> {
    let find = |kind: &str| {
        all()
            .into_iter()
            .find(|(_, k, _)| *k == kind)
            .map(|(_, _, v)| v)
            .expect("a sample of every kind")
    };
    vec![
        ("io.k8s.api.core.v1.Pod", find("Pod")),
        ("io.k8s.api.apps.v1.Deployment", find("Deployment")),
        ("io.k8s.api.core.v1.Service", find("Service")),
    ]
}
