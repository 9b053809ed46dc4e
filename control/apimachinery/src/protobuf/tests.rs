//! Each test builds the k8s-pb message a client would send, wraps it the way client-go does,
//! decodes it and checks the JSON, then checks that k8s-openapi reads that JSON and writes
//! the same JSON back (which catches misspelled or misplaced keys, since k8s-openapi drops
//! keys it does not know).

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::authentication::v1 as authentication;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::networking::v1 as networking;
use k8s_pb::api::policy::v1 as policy;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::api::scheduling::v1 as scheduling;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::json::{base64, rfc3339};
use super::{decode_object, ProtobufError, MAGIC};

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn quantities(items: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), quantity(v)))
        .collect()
}

fn quantity(text: &str) -> Quantity {
    Quantity { string: s(text) }
}

/// IntOrString as Go's encoder writes it: all three fields, always.
fn int(value: i32) -> IntOrString {
    IntOrString {
        r#type: Some(0),
        int_val: Some(value),
        str_val: s(""),
    }
}

fn string(value: &str) -> IntOrString {
    IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: s(value),
    }
}

/// ObjectMeta as Go's encoder writes it for a fresh object: every plain field present with its
/// zero value, and the zero creationTimestamp as an empty message.
fn go_meta(name: &str, labels: &[(&str, &str)]) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(""),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        labels: pairs(labels),
        ..Default::default()
    }
}

/// A container as Go's encoder writes it: plain strings and bools present but zero.
fn go_container(name: &str, image: &str) -> core::Container {
    core::Container {
        name: s(name),
        image: s(image),
        working_dir: s(""),
        resources: Some(core::ResourceRequirements::default()),
        termination_message_path: s(""),
        termination_message_policy: s(""),
        image_pull_policy: s(""),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
        ..Default::default()
    }
}

/// A PodSpec as Go's encoder writes it: plain strings and bools present but zero.
fn go_pod_spec(containers: Vec<core::Container>, restart_policy: &str) -> core::PodSpec {
    core::PodSpec {
        containers,
        restart_policy: s(restart_policy),
        dns_policy: s(""),
        service_account_name: s(""),
        service_account: s(""),
        node_name: s(""),
        host_network: Some(false),
        host_pid: Some(false),
        host_ipc: Some(false),
        hostname: s(""),
        subdomain: s(""),
        scheduler_name: s(""),
        priority_class_name: s(""),
        ..Default::default()
    }
}

/// The body client-go sends: magic, then runtime.Unknown around the object's bytes.
fn body(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s(api_version),
            kind: s(kind),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: None,
        content_type: None,
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(envelope.encode_to_vec());
    bytes
}

/// Decodes the object and checks that k8s-openapi's `K` reads and writes the same JSON.
fn decode_as<K: DeserializeOwned + Serialize>(
    api_version: &str,
    kind: &str,
    object: &impl Message,
) -> Value {
    let decoded = decode_object(&body(api_version, kind, object)).expect("decodes");
    let typed: K = serde_json::from_value(decoded.clone()).expect("k8s-openapi reads the JSON");
    let again = serde_json::to_value(&typed).expect("k8s-openapi writes the JSON");
    assert_eq!(
        again, decoded,
        "JSON does not round-trip through k8s-openapi"
    );
    decoded
}

#[test]
fn a_namespace_from_kubectl_create_namespace_decodes() {
    let namespace = core::Namespace {
        metadata: Some(go_meta("team-a", &[])),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus {
            phase: s(""),
            ..Default::default()
        }),
    };
    let json = decode_as::<k8s_openapi::api::core::v1::Namespace>("v1", "Namespace", &namespace);
    assert_eq!(
        json,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}, "spec": {}})
    );
}

#[test]
fn a_config_map_keeps_data_and_base64_encodes_binary_data() {
    let config_map = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            namespace: s("default"),
            ..go_meta("settings", &[])
        }),
        immutable: None,
        data: pairs(&[("mode", "fast"), ("greeting", "hello\nworld")]),
        binary_data: [("blob".to_owned(), vec![0x00, 0xff, 0x10])].into(),
    };
    let json = decode_as::<k8s_openapi::api::core::v1::ConfigMap>("v1", "ConfigMap", &config_map);
    assert_eq!(
        json,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "default"},
            "data": {"greeting": "hello\nworld", "mode": "fast"},
            "binaryData": {"blob": "AP8Q"}
        })
    );
}

#[test]
fn a_generic_secret_carries_base64_data_and_string_data() {
    let secret = core::Secret {
        metadata: Some(go_meta("db", &[])),
        immutable: Some(false),
        data: [("password".to_owned(), b"supersecret".to_vec())].into(),
        string_data: pairs(&[("user", "admin")]),
        r#type: s(""),
    };
    let json = decode_as::<k8s_openapi::api::core::v1::Secret>("v1", "Secret", &secret);
    assert_eq!(
        json,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "immutable": false,
            "data": {"password": "c3VwZXJzZWNyZXQ="},
            "stringData": {"user": "admin"}
        })
    );
}

#[test]
fn a_tls_secret_keeps_its_type() {
    let secret = core::Secret {
        metadata: Some(go_meta("tls", &[])),
        data: [
            ("tls.crt".to_owned(), b"CERT".to_vec()),
            ("tls.key".to_owned(), b"KEY".to_vec()),
        ]
        .into(),
        r#type: s("kubernetes.io/tls"),
        ..Default::default()
    };
    let json = decode_as::<k8s_openapi::api::core::v1::Secret>("v1", "Secret", &secret);
    assert_eq!(json["type"], "kubernetes.io/tls");
    assert_eq!(
        json["data"],
        json!({"tls.crt": base64(b"CERT"), "tls.key": base64(b"KEY")})
    );
}

#[test]
fn a_service_account_decodes_with_its_references() {
    let account = core::ServiceAccount {
        metadata: Some(go_meta("builder", &[])),
        secrets: vec![core::ObjectReference {
            name: s("builder-token"),
            kind: s(""),
            namespace: s(""),
            ..Default::default()
        }],
        image_pull_secrets: vec![core::LocalObjectReference {
            name: s("registry"),
        }],
        automount_service_account_token: Some(false),
    };
    let json =
        decode_as::<k8s_openapi::api::core::v1::ServiceAccount>("v1", "ServiceAccount", &account);
    assert_eq!(
        json,
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "builder"},
            "secrets": [{"name": "builder-token"}],
            "imagePullSecrets": [{"name": "registry"}],
            "automountServiceAccountToken": false
        })
    );
}

fn go_service_port(
    name: &str,
    port: i32,
    target: IntOrString,
    node_port: i32,
) -> core::ServicePort {
    core::ServicePort {
        name: s(name),
        protocol: s("TCP"),
        app_protocol: None,
        port: Some(port),
        target_port: Some(target),
        node_port: Some(node_port),
    }
}

fn go_service_spec(service_type: &str, ports: Vec<core::ServicePort>) -> core::ServiceSpec {
    core::ServiceSpec {
        ports,
        cluster_ip: s(""),
        r#type: s(service_type),
        session_affinity: s(""),
        load_balancer_ip: s(""),
        external_name: s(""),
        external_traffic_policy: s(""),
        health_check_node_port: Some(0),
        publish_not_ready_addresses: Some(false),
        ..Default::default()
    }
}

#[test]
fn a_cluster_ip_service_has_an_integer_target_port() {
    let service = core::Service {
        metadata: Some(go_meta("my-cs", &[("app", "my-cs")])),
        spec: Some(core::ServiceSpec {
            selector: pairs(&[("app", "my-cs")]),
            ..go_service_spec(
                "ClusterIP",
                vec![go_service_port("5678-8080", 5678, int(8080), 0)],
            )
        }),
        status: Some(core::ServiceStatus::default()),
    };
    let json = decode_as::<k8s_openapi::api::core::v1::Service>("v1", "Service", &service);
    assert_eq!(
        json,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "my-cs", "labels": {"app": "my-cs"}},
            "spec": {
                "ports": [{"name": "5678-8080", "protocol": "TCP", "port": 5678, "targetPort": 8080}],
                "selector": {"app": "my-cs"},
                "type": "ClusterIP"
            }
        })
    );
}

#[test]
fn a_headless_service_keeps_cluster_ip_none() {
    let service = core::Service {
        metadata: Some(go_meta("headless", &[])),
        spec: Some(core::ServiceSpec {
            cluster_ip: s("None"),
            ..go_service_spec("ClusterIP", vec![])
        }),
        status: None,
    };
    let json = decode_as::<k8s_openapi::api::core::v1::Service>("v1", "Service", &service);
    assert_eq!(
        json["spec"],
        json!({"clusterIP": "None", "type": "ClusterIP"})
    );
}

#[test]
fn a_node_port_service_has_its_node_port_and_a_named_target_port() {
    let service = core::Service {
        metadata: Some(go_meta("web", &[])),
        spec: Some(go_service_spec(
            "NodePort",
            vec![go_service_port("http", 80, string("http"), 30080)],
        )),
        status: None,
    };
    let json = decode_as::<k8s_openapi::api::core::v1::Service>("v1", "Service", &service);
    assert_eq!(
        json["spec"]["ports"],
        json!([{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080}])
    );
    assert_eq!(json["spec"]["type"], "NodePort");
}

#[test]
fn a_load_balancer_service_keeps_its_pointer_fields() {
    let service = core::Service {
        metadata: Some(go_meta("lb", &[])),
        spec: Some(core::ServiceSpec {
            external_traffic_policy: s("Local"),
            ip_families: strings(&["IPv4"]),
            ip_family_policy: s("SingleStack"),
            allocate_load_balancer_node_ports: Some(false),
            load_balancer_class: s("example.com/lb"),
            load_balancer_source_ranges: strings(&["10.0.0.0/8"]),
            session_affinity_config: Some(core::SessionAffinityConfig {
                client_ip: Some(core::ClientIpConfig {
                    timeout_seconds: Some(600),
                }),
            }),
            ..go_service_spec(
                "LoadBalancer",
                vec![go_service_port("5678-8080", 5678, int(8080), 0)],
            )
        }),
        status: None,
    };
    let json = decode_as::<k8s_openapi::api::core::v1::Service>("v1", "Service", &service);
    assert_eq!(
        json["spec"],
        json!({
            "ports": [{"name": "5678-8080", "protocol": "TCP", "port": 5678, "targetPort": 8080}],
            "type": "LoadBalancer",
            "loadBalancerSourceRanges": ["10.0.0.0/8"],
            "externalTrafficPolicy": "Local",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "allocateLoadBalancerNodePorts": false,
            "loadBalancerClass": "example.com/lb"
        })
    );
}

#[test]
fn an_external_name_service_has_its_external_name() {
    let service = core::Service {
        metadata: Some(go_meta("db", &[])),
        spec: Some(core::ServiceSpec {
            external_name: s("db.example.com"),
            ..go_service_spec("ExternalName", vec![])
        }),
        status: None,
    };
    let json = decode_as::<k8s_openapi::api::core::v1::Service>("v1", "Service", &service);
    assert_eq!(
        json["spec"],
        json!({"type": "ExternalName", "externalName": "db.example.com"})
    );
}

#[test]
fn a_resource_quota_has_quantity_strings_and_scopes() {
    let quota = core::ResourceQuota {
        metadata: Some(go_meta("compute", &[])),
        spec: Some(core::ResourceQuotaSpec {
            hard: quantities(&[("cpu", "1"), ("memory", "1G"), ("pods", "2")]),
            scopes: strings(&["BestEffort"]),
            scope_selector: Some(core::ScopeSelector {
                match_expressions: vec![core::ScopedResourceSelectorRequirement {
                    scope_name: s("PriorityClass"),
                    operator: s("In"),
                    values: strings(&["high"]),
                }],
            }),
        }),
        status: Some(core::ResourceQuotaStatus::default()),
    };
    let json =
        decode_as::<k8s_openapi::api::core::v1::ResourceQuota>("v1", "ResourceQuota", &quota);
    assert_eq!(
        json["spec"],
        json!({
            "hard": {"cpu": "1", "memory": "1G", "pods": "2"},
            "scopes": ["BestEffort"],
            "scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
            ]}
        })
    );
}

/// `kubectl create deployment web --image=nginx --replicas=2 --port=80`.
fn kubectl_deployment() -> apps::Deployment {
    let mut container = go_container("nginx", "nginx");
    container.ports = vec![core::ContainerPort {
        name: s(""),
        host_port: Some(0),
        container_port: Some(80),
        protocol: s(""),
        host_ip: s(""),
    }];
    apps::Deployment {
        metadata: Some(go_meta("web", &[("app", "web")])),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(2),
            selector: Some(meta::LabelSelector {
                match_labels: pairs(&[("app", "web")]),
                match_expressions: vec![],
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(go_meta("", &[("app", "web")])),
                spec: Some(go_pod_spec(vec![container], "")),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s(""),
                rolling_update: None,
            }),
            min_ready_seconds: Some(0),
            paused: Some(false),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus::default()),
    }
}

#[test]
fn a_deployment_from_kubectl_create_deployment_decodes() {
    let json = decode_as::<k8s_openapi::api::apps::v1::Deployment>(
        "apps/v1",
        "Deployment",
        &kubectl_deployment(),
    );
    assert_eq!(
        json,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx",
                        "image": "nginx",
                        "ports": [{"containerPort": 80}],
                        "resources": {}
                    }]}
                },
                "strategy": {}
            }
        })
    );
}

#[test]
fn zero_replicas_are_kept_because_replicas_is_a_pointer() {
    let mut deployment = kubectl_deployment();
    deployment.spec.as_mut().unwrap().replicas = Some(0);
    let json =
        decode_as::<k8s_openapi::api::apps::v1::Deployment>("apps/v1", "Deployment", &deployment);
    assert_eq!(json["spec"]["replicas"], 0);
    assert!(json["spec"].get("minReadySeconds").is_none());
    assert!(json["spec"].get("paused").is_none());
}

/// A pod spec using most of what a PodSpec can hold.
fn rich_pod_spec() -> core::PodSpec {
    let selector = meta::LabelSelector {
        match_labels: pairs(&[("app", "web")]),
        match_expressions: vec![meta::LabelSelectorRequirement {
            key: s("tier"),
            operator: s("In"),
            values: strings(&["frontend"]),
        }],
    };
    let node_term = core::NodeSelectorTerm {
        match_expressions: vec![core::NodeSelectorRequirement {
            key: s("kubernetes.io/os"),
            operator: s("In"),
            values: strings(&["linux"]),
        }],
        match_fields: vec![],
    };
    let affinity_term = core::PodAffinityTerm {
        label_selector: Some(selector.clone()),
        namespaces: strings(&["default"]),
        topology_key: s("kubernetes.io/hostname"),
        ..Default::default()
    };
    let container = core::Container {
        command: strings(&["nginx"]),
        args: strings(&["-g", "daemon off;"]),
        working_dir: s("/srv"),
        ports: vec![core::ContainerPort {
            name: s("http"),
            container_port: Some(80),
            protocol: s("TCP"),
            ..Default::default()
        }],
        env_from: vec![
            core::EnvFromSource {
                prefix: s("CFG_"),
                config_map_ref: Some(core::ConfigMapEnvSource {
                    local_object_reference: Some(core::LocalObjectReference {
                        name: s("settings"),
                    }),
                    optional: Some(true),
                }),
                secret_ref: None,
            },
            core::EnvFromSource {
                prefix: s(""),
                config_map_ref: None,
                secret_ref: Some(core::SecretEnvSource {
                    local_object_reference: Some(core::LocalObjectReference { name: s("db") }),
                    optional: None,
                }),
            },
        ],
        env: vec![
            core::EnvVar {
                name: s("MODE"),
                value: s("prod"),
                value_from: None,
            },
            core::EnvVar {
                name: s("POD_NAME"),
                value: s(""),
                value_from: Some(core::EnvVarSource {
                    field_ref: Some(core::ObjectFieldSelector {
                        api_version: s("v1"),
                        field_path: s("metadata.name"),
                    }),
                    ..Default::default()
                }),
            },
            core::EnvVar {
                name: s("CPU_LIMIT"),
                value: None,
                value_from: Some(core::EnvVarSource {
                    resource_field_ref: Some(core::ResourceFieldSelector {
                        container_name: s("nginx"),
                        resource: s("limits.cpu"),
                        divisor: Some(quantity("1m")),
                    }),
                    ..Default::default()
                }),
            },
            core::EnvVar {
                name: s("PASSWORD"),
                value: None,
                value_from: Some(core::EnvVarSource {
                    secret_key_ref: Some(core::SecretKeySelector {
                        local_object_reference: Some(core::LocalObjectReference { name: s("db") }),
                        key: s("password"),
                        optional: Some(false),
                    }),
                    config_map_key_ref: None,
                    ..Default::default()
                }),
            },
            core::EnvVar {
                name: s("COLOR"),
                value: None,
                value_from: Some(core::EnvVarSource {
                    config_map_key_ref: Some(core::ConfigMapKeySelector {
                        local_object_reference: Some(core::LocalObjectReference {
                            name: s("settings"),
                        }),
                        key: s("color"),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: quantities(&[("cpu", "500m"), ("memory", "128Mi")]),
            requests: quantities(&[("cpu", "250m")]),
            claims: vec![core::ResourceClaim {
                name: s("gpu"),
                request: s(""),
            }],
        }),
        resize_policy: vec![core::ContainerResizePolicy {
            resource_name: s("cpu"),
            restart_policy: s("NotRequired"),
        }],
        volume_mounts: vec![core::VolumeMount {
            name: s("data"),
            read_only: Some(true),
            mount_path: s("/data"),
            sub_path: s("web"),
            mount_propagation: s("None"),
            ..Default::default()
        }],
        volume_devices: vec![core::VolumeDevice {
            name: s("raw"),
            device_path: s("/dev/xvda"),
        }],
        liveness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: s("/healthz"),
                    port: Some(string("http")),
                    host: s(""),
                    scheme: s("HTTP"),
                    http_headers: vec![core::HttpHeader {
                        name: s("X-Probe"),
                        value: s("1"),
                    }],
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(5),
            timeout_seconds: Some(1),
            period_seconds: Some(10),
            success_threshold: Some(1),
            failure_threshold: Some(3),
            termination_grace_period_seconds: None,
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                tcp_socket: Some(core::TcpSocketAction {
                    port: Some(int(80)),
                    host: s(""),
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(0),
            ..Default::default()
        }),
        startup_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                exec: Some(core::ExecAction {
                    command: strings(&["cat", "/tmp/ready"]),
                }),
                ..Default::default()
            }),
            termination_grace_period_seconds: Some(0),
            ..Default::default()
        }),
        lifecycle: Some(core::Lifecycle {
            post_start: Some(core::LifecycleHandler {
                sleep: Some(core::SleepAction { seconds: Some(2) }),
                ..Default::default()
            }),
            pre_stop: Some(core::LifecycleHandler {
                exec: Some(core::ExecAction {
                    command: strings(&["nginx", "-s", "quit"]),
                }),
                ..Default::default()
            }),
            stop_signal: None,
        }),
        termination_message_path: s("/dev/termination-log"),
        termination_message_policy: s("File"),
        image_pull_policy: s("IfNotPresent"),
        security_context: Some(core::SecurityContext {
            capabilities: Some(core::Capabilities {
                add: strings(&["NET_BIND_SERVICE"]),
                drop: strings(&["ALL"]),
            }),
            privileged: Some(false),
            run_as_user: Some(1000),
            run_as_non_root: Some(true),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            seccomp_profile: Some(core::SeccompProfile {
                r#type: s("RuntimeDefault"),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        stdin: Some(true),
        tty: Some(true),
        ..go_container("nginx", "nginx:1.27")
    };
    core::PodSpec {
        volumes: vec![
            volume(
                "data",
                core::VolumeSource {
                    empty_dir: Some(core::EmptyDirVolumeSource {
                        medium: s("Memory"),
                        size_limit: Some(quantity("64Mi")),
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "config",
                core::VolumeSource {
                    config_map: Some(core::ConfigMapVolumeSource {
                        local_object_reference: Some(core::LocalObjectReference {
                            name: s("settings"),
                        }),
                        items: vec![core::KeyToPath {
                            key: s("nginx.conf"),
                            path: s("nginx.conf"),
                            mode: Some(0o644),
                        }],
                        default_mode: Some(0o420),
                        optional: None,
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "certs",
                core::VolumeSource {
                    secret: Some(core::SecretVolumeSource {
                        secret_name: s("tls"),
                        optional: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "host",
                core::VolumeSource {
                    host_path: Some(core::HostPathVolumeSource {
                        path: s("/var/log"),
                        r#type: s("Directory"),
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "claim",
                core::VolumeSource {
                    persistent_volume_claim: Some(core::PersistentVolumeClaimVolumeSource {
                        claim_name: s("web-data"),
                        read_only: Some(false),
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "nfs",
                core::VolumeSource {
                    nfs: Some(core::NfsVolumeSource {
                        server: s("nfs.example.com"),
                        path: s("/exports"),
                        read_only: Some(true),
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "podinfo",
                core::VolumeSource {
                    downward_api: Some(core::DownwardAPIVolumeSource {
                        items: vec![core::DownwardAPIVolumeFile {
                            path: s("labels"),
                            field_ref: Some(core::ObjectFieldSelector {
                                api_version: s("v1"),
                                field_path: s("metadata.labels"),
                            }),
                            ..Default::default()
                        }],
                        default_mode: None,
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "projected",
                core::VolumeSource {
                    projected: Some(core::ProjectedVolumeSource {
                        sources: vec![
                            core::VolumeProjection {
                                service_account_token: Some(core::ServiceAccountTokenProjection {
                                    audience: s("vault"),
                                    expiration_seconds: Some(3600),
                                    path: s("token"),
                                }),
                                ..Default::default()
                            },
                            core::VolumeProjection {
                                config_map: Some(core::ConfigMapProjection {
                                    local_object_reference: Some(core::LocalObjectReference {
                                        name: s("ca"),
                                    }),
                                    items: vec![],
                                    optional: None,
                                }),
                                secret: Some(core::SecretProjection {
                                    local_object_reference: Some(core::LocalObjectReference {
                                        name: s("creds"),
                                    }),
                                    items: vec![],
                                    optional: Some(false),
                                }),
                                ..Default::default()
                            },
                        ],
                        default_mode: Some(0o400),
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "csi",
                core::VolumeSource {
                    csi: Some(core::CSIVolumeSource {
                        driver: s("secrets-store.csi.k8s.io"),
                        read_only: Some(true),
                        volume_attributes: pairs(&[("secretProviderClass", "vault")]),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            volume(
                "scratch",
                core::VolumeSource {
                    ephemeral: Some(core::EphemeralVolumeSource {
                        volume_claim_template: Some(core::PersistentVolumeClaimTemplate {
                            metadata: Some(go_meta("", &[("type", "scratch")])),
                            spec: Some(core::PersistentVolumeClaimSpec {
                                access_modes: strings(&["ReadWriteOnce"]),
                                resources: Some(core::VolumeResourceRequirements {
                                    requests: quantities(&[("storage", "1Gi")]),
                                    limits: BTreeMap::new(),
                                }),
                                volume_name: s(""),
                                storage_class_name: s("fast"),
                                ..Default::default()
                            }),
                        }),
                    }),
                    ..Default::default()
                },
            ),
        ],
        init_containers: vec![core::Container {
            command: strings(&["sh", "-c", "echo init"]),
            restart_policy: s("Always"),
            ..go_container("init", "busybox")
        }],
        termination_grace_period_seconds: Some(30),
        active_deadline_seconds: None,
        dns_policy: s("ClusterFirst"),
        node_selector: pairs(&[("disk", "ssd")]),
        service_account_name: s("web"),
        automount_service_account_token: Some(false),
        host_network: Some(true),
        share_process_namespace: Some(true),
        security_context: Some(core::PodSecurityContext {
            run_as_user: Some(1000),
            run_as_group: Some(3000),
            fs_group: Some(2000),
            supplemental_groups: vec![4000, 5000],
            sysctls: vec![core::Sysctl {
                name: s("net.core.somaxconn"),
                value: s("1024"),
            }],
            fs_group_change_policy: s("OnRootMismatch"),
            se_linux_options: Some(core::SeLinuxOptions {
                level: s("s0:c123,c456"),
                user: s(""),
                role: s(""),
                r#type: s(""),
            }),
            app_armor_profile: Some(core::AppArmorProfile {
                r#type: s("Localhost"),
                localhost_profile: s("k8s-nginx"),
            }),
            ..Default::default()
        }),
        image_pull_secrets: vec![core::LocalObjectReference {
            name: s("registry"),
        }],
        hostname: s("web-0"),
        subdomain: s("web"),
        affinity: Some(core::Affinity {
            node_affinity: Some(core::NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(core::NodeSelector {
                    node_selector_terms: vec![node_term.clone()],
                }),
                preferred_during_scheduling_ignored_during_execution: vec![
                    core::PreferredSchedulingTerm {
                        weight: Some(10),
                        preference: Some(node_term),
                    },
                ],
            }),
            pod_affinity: Some(core::PodAffinity {
                required_during_scheduling_ignored_during_execution: vec![affinity_term.clone()],
                preferred_during_scheduling_ignored_during_execution: vec![],
            }),
            pod_anti_affinity: Some(core::PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: vec![],
                preferred_during_scheduling_ignored_during_execution: vec![
                    core::WeightedPodAffinityTerm {
                        weight: Some(100),
                        pod_affinity_term: Some(affinity_term),
                    },
                ],
            }),
        }),
        scheduler_name: s("default-scheduler"),
        tolerations: vec![core::Toleration {
            key: s("dedicated"),
            operator: s("Equal"),
            value: s("web"),
            effect: s("NoExecute"),
            toleration_seconds: Some(60),
        }],
        host_aliases: vec![core::HostAlias {
            ip: s("127.0.0.1"),
            hostnames: strings(&["web.local"]),
        }],
        priority_class_name: s("high"),
        priority: Some(1000),
        dns_config: Some(core::PodDnsConfig {
            nameservers: strings(&["1.1.1.1"]),
            searches: strings(&["example.com"]),
            options: vec![core::PodDnsConfigOption {
                name: s("ndots"),
                value: s("2"),
            }],
        }),
        readiness_gates: vec![core::PodReadinessGate {
            condition_type: s("example.com/ready"),
        }],
        runtime_class_name: s("gvisor"),
        enable_service_links: Some(false),
        preemption_policy: s("PreemptLowerPriority"),
        overhead: quantities(&[("cpu", "10m")]),
        topology_spread_constraints: vec![core::TopologySpreadConstraint {
            max_skew: Some(1),
            topology_key: s("topology.kubernetes.io/zone"),
            when_unsatisfiable: s("DoNotSchedule"),
            label_selector: Some(selector),
            min_domains: Some(2),
            match_label_keys: strings(&["pod-template-hash"]),
            ..Default::default()
        }],
        set_hostname_as_fqdn: Some(false),
        os: Some(core::PodOs { name: s("linux") }),
        host_users: Some(true),
        scheduling_gates: vec![core::PodSchedulingGate {
            name: s("example.com/gate"),
        }],
        resource_claims: vec![core::PodResourceClaim {
            name: s("gpu"),
            resource_claim_template_name: s("gpu-template"),
            ..Default::default()
        }],
        ..go_pod_spec(vec![container], "Always")
    }
}

fn volume(name: &str, source: core::VolumeSource) -> core::Volume {
    core::Volume {
        name: s(name),
        volume_source: Some(source),
    }
}

#[test]
fn a_deployment_with_a_full_pod_spec_round_trips_through_k8s_openapi() {
    let deployment = apps::Deployment {
        metadata: Some(go_meta("web", &[("app", "web")])),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(3),
            selector: Some(meta::LabelSelector {
                match_labels: pairs(&[("app", "web")]),
                match_expressions: vec![],
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    annotations: pairs(&[("kubectl.kubernetes.io/restartedAt", "now")]),
                    ..go_meta("", &[("app", "web")])
                }),
                spec: Some(rich_pod_spec()),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(int(1)),
                    max_surge: Some(string("25%")),
                }),
            }),
            min_ready_seconds: Some(5),
            revision_history_limit: Some(10),
            paused: Some(true),
            progress_deadline_seconds: Some(600),
        }),
        status: None,
    };
    let json =
        decode_as::<k8s_openapi::api::apps::v1::Deployment>("apps/v1", "Deployment", &deployment);
    let spec = &json["spec"];
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}})
    );
    assert_eq!(spec["minReadySeconds"], 5);
    assert_eq!(spec["paused"], true);
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(
        container["resources"],
        json!({"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}, "claims": [{"name": "gpu"}]})
    );
    assert_eq!(
        container["env"][1],
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}})
    );
    assert_eq!(
        container["env"][3]["valueFrom"]["secretKeyRef"],
        json!({"name": "db", "key": "password", "optional": false})
    );
    assert_eq!(
        container["envFrom"][0],
        json!({"prefix": "CFG_", "configMapRef": {"name": "settings", "optional": true}})
    );
    assert_eq!(
        container["livenessProbe"],
        json!({
            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                        "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
            "initialDelaySeconds": 5, "timeoutSeconds": 1, "periodSeconds": 10,
            "successThreshold": 1, "failureThreshold": 3
        })
    );
    assert_eq!(
        container["readinessProbe"],
        json!({"tcpSocket": {"port": 80}})
    );
    assert_eq!(
        container["startupProbe"],
        json!({"exec": {"command": ["cat", "/tmp/ready"]}, "terminationGracePeriodSeconds": 0})
    );
    assert_eq!(
        container["lifecycle"]["postStart"],
        json!({"sleep": {"seconds": 2}})
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert_eq!(container["stdin"], true);
    assert!(container.get("stdinOnce").is_none());
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "data", "readOnly": true, "mountPath": "/data", "subPath": "web", "mountPropagation": "None"}])
    );
    assert_eq!(pod["initContainers"][0]["restartPolicy"], "Always");
    assert_eq!(
        pod["volumes"][1],
        json!({"name": "config", "configMap": {"name": "settings",
               "items": [{"key": "nginx.conf", "path": "nginx.conf", "mode": 420}], "defaultMode": 272}})
    );
    assert_eq!(
        pod["volumes"][0],
        json!({"name": "data", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}})
    );
    assert_eq!(
        pod["volumes"][9]["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"],
        json!({"requests": {"storage": "1Gi"}})
    );
    assert_eq!(pod["nodeSelector"], json!({"disk": "ssd"}));
    assert_eq!(pod["hostNetwork"], true);
    assert!(pod.get("hostPID").is_none());
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoExecute", "tolerationSeconds": 60}])
    );
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
        json!({"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
        ]}]})
    );
    assert_eq!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
            ["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert_eq!(
        pod["securityContext"]["supplementalGroups"],
        json!([4000, 5000])
    );
    assert_eq!(
        pod["securityContext"]["seLinuxOptions"],
        json!({"level": "s0:c123,c456"})
    );
    assert_eq!(pod["overhead"], json!({"cpu": "10m"}));
    assert_eq!(pod["restartPolicy"], "Always");
}

#[test]
fn ephemeral_containers_read_as_containers() {
    let common = core::EphemeralContainerCommon {
        name: s("debugger"),
        image: s("busybox"),
        stdin: Some(true),
        tty: Some(true),
        ..Default::default()
    };
    let mut spec = go_pod_spec(vec![go_container("app", "nginx")], "");
    spec.ephemeral_containers = vec![core::EphemeralContainer {
        ephemeral_container_common: Some(common),
        target_container_name: s("app"),
    }];
    let deployment = apps::Deployment {
        spec: Some(apps::DeploymentSpec {
            selector: Some(meta::LabelSelector::default()),
            template: Some(core::PodTemplateSpec {
                metadata: None,
                spec: Some(spec),
            }),
            ..Default::default()
        }),
        ..kubectl_deployment()
    };
    let json =
        decode_as::<k8s_openapi::api::apps::v1::Deployment>("apps/v1", "Deployment", &deployment);
    assert_eq!(
        json["spec"]["template"]["spec"]["ephemeralContainers"],
        json!([{"name": "debugger", "image": "busybox", "stdin": true, "tty": true, "targetContainerName": "app"}])
    );
}

/// `kubectl create job pi --image=perl -- perl -Mbignum=bpi -wle 'print bpi(2000)'`.
#[test]
fn a_job_from_kubectl_create_job_decodes() {
    let mut container = go_container("pi", "perl");
    container.command = strings(&["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]);
    let job = batch::Job {
        metadata: Some(go_meta("pi", &[])),
        spec: Some(batch::JobSpec {
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta::default()),
                spec: Some(go_pod_spec(vec![container], "Never")),
            }),
            ..Default::default()
        }),
        status: Some(batch::JobStatus::default()),
    };
    let json = decode_as::<k8s_openapi::api::batch::v1::Job>("batch/v1", "Job", &job);
    assert_eq!(
        json,
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi"},
            "spec": {"template": {
                "metadata": {},
                "spec": {
                    "containers": [{
                        "name": "pi",
                        "image": "perl",
                        "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"],
                        "resources": {}
                    }],
                    "restartPolicy": "Never"
                }
            }}
        })
    );
}

#[test]
fn a_job_keeps_its_pointer_fields_and_failure_policy() {
    let job = batch::Job {
        metadata: Some(go_meta("batch", &[])),
        spec: Some(batch::JobSpec {
            parallelism: Some(2),
            completions: Some(4),
            active_deadline_seconds: Some(600),
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(100),
            completion_mode: s("Indexed"),
            suspend: Some(false),
            backoff_limit_per_index: Some(1),
            max_failed_indexes: Some(2),
            pod_replacement_policy: s("Failed"),
            manual_selector: Some(true),
            selector: Some(meta::LabelSelector {
                match_labels: pairs(&[("job", "batch")]),
                match_expressions: vec![],
            }),
            pod_failure_policy: Some(batch::PodFailurePolicy {
                rules: vec![
                    batch::PodFailurePolicyRule {
                        action: s("FailJob"),
                        on_exit_codes: Some(batch::PodFailurePolicyOnExitCodesRequirement {
                            container_name: s("main"),
                            operator: s("In"),
                            values: vec![42],
                        }),
                        on_pod_conditions: vec![],
                    },
                    batch::PodFailurePolicyRule {
                        action: s("Ignore"),
                        on_exit_codes: None,
                        on_pod_conditions: vec![batch::PodFailurePolicyOnPodConditionsPattern {
                            r#type: s("DisruptionTarget"),
                            status: s("True"),
                        }],
                    },
                ],
            }),
            success_policy: Some(batch::SuccessPolicy {
                rules: vec![batch::SuccessPolicyRule {
                    succeeded_indexes: s("0-2"),
                    succeeded_count: Some(1),
                }],
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(go_meta("", &[("job", "batch")])),
                spec: Some(go_pod_spec(vec![go_container("main", "busybox")], "Never")),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let json = decode_as::<k8s_openapi::api::batch::v1::Job>("batch/v1", "Job", &job);
    let spec = &json["spec"];
    assert_eq!(spec["backoffLimit"], 0);
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(
        spec["podFailurePolicy"]["rules"][0]["onExitCodes"],
        json!({"containerName": "main", "operator": "In", "values": [42]})
    );
    assert_eq!(
        spec["successPolicy"],
        json!({"rules": [{"succeededIndexes": "0-2", "succeededCount": 1}]})
    );
}

/// `kubectl create cronjob ticker --image=busybox --schedule="*/1 * * * *" -- date`.
#[test]
fn a_cron_job_from_kubectl_create_cronjob_decodes() {
    let mut container = go_container("ticker", "busybox");
    container.command = strings(&["date"]);
    let cron_job = batch::CronJob {
        metadata: Some(go_meta("ticker", &[])),
        spec: Some(batch::CronJobSpec {
            schedule: s("*/1 * * * *"),
            concurrency_policy: s(""),
            job_template: Some(batch::JobTemplateSpec {
                metadata: Some(go_meta("ticker", &[])),
                spec: Some(batch::JobSpec {
                    template: Some(core::PodTemplateSpec {
                        metadata: Some(meta::ObjectMeta::default()),
                        spec: Some(go_pod_spec(vec![container], "OnFailure")),
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: Some(batch::CronJobStatus::default()),
    };
    let json = decode_as::<k8s_openapi::api::batch::v1::CronJob>("batch/v1", "CronJob", &cron_job);
    assert_eq!(
        json,
        json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "ticker"},
            "spec": {
                "schedule": "*/1 * * * *",
                "jobTemplate": {
                    "metadata": {"name": "ticker"},
                    "spec": {"template": {
                        "metadata": {},
                        "spec": {
                            "containers": [{"name": "ticker", "image": "busybox", "command": ["date"], "resources": {}}],
                            "restartPolicy": "OnFailure"
                        }
                    }}
                }
            }
        })
    );
}

#[test]
fn a_cron_job_keeps_its_time_zone_and_history_limits() {
    let cron_job = batch::CronJob {
        metadata: Some(go_meta("nightly", &[])),
        spec: Some(batch::CronJobSpec {
            schedule: s("0 3 * * *"),
            time_zone: s("Europe/Berlin"),
            starting_deadline_seconds: Some(120),
            concurrency_policy: s("Forbid"),
            suspend: Some(true),
            successful_jobs_history_limit: Some(0),
            failed_jobs_history_limit: Some(1),
            job_template: Some(batch::JobTemplateSpec::default()),
        }),
        status: None,
    };
    let json = decode_as::<k8s_openapi::api::batch::v1::CronJob>("batch/v1", "CronJob", &cron_job);
    assert_eq!(
        json["spec"],
        json!({
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Berlin",
            "startingDeadlineSeconds": 120,
            "concurrencyPolicy": "Forbid",
            "suspend": true,
            "jobTemplate": {},
            "successfulJobsHistoryLimit": 0,
            "failedJobsHistoryLimit": 1
        })
    );
}

/// `kubectl create role pod-reader --verb=get,list --resource=pods --resource-name=web`.
#[test]
fn a_role_from_kubectl_create_role_decodes() {
    let role = rbac::Role {
        metadata: Some(go_meta("pod-reader", &[])),
        rules: vec![rbac::PolicyRule {
            verbs: strings(&["get", "list"]),
            api_groups: strings(&[""]),
            resources: strings(&["pods"]),
            resource_names: strings(&["web"]),
            non_resource_ur_ls: vec![],
        }],
    };
    let json = decode_as::<k8s_openapi::api::rbac::v1::Role>(
        "rbac.authorization.k8s.io/v1",
        "Role",
        &role,
    );
    assert_eq!(
        json,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pod-reader"},
            "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]}]
        })
    );
}

#[test]
fn a_cluster_role_keeps_non_resource_urls_and_its_aggregation_rule() {
    let role = rbac::ClusterRole {
        metadata: Some(go_meta("monitoring", &[])),
        rules: vec![rbac::PolicyRule {
            verbs: strings(&["get"]),
            non_resource_ur_ls: strings(&["/metrics"]),
            ..Default::default()
        }],
        aggregation_rule: Some(rbac::AggregationRule {
            cluster_role_selectors: vec![meta::LabelSelector {
                match_labels: pairs(&[("rbac.example.com/aggregate-to-monitoring", "true")]),
                match_expressions: vec![],
            }],
        }),
    };
    let json = decode_as::<k8s_openapi::api::rbac::v1::ClusterRole>(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        &role,
    );
    assert_eq!(
        json["rules"],
        json!([{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}])
    );
    assert_eq!(
        json["aggregationRule"],
        json!({"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]})
    );
}

fn subjects_and_role_ref() -> (Vec<rbac::Subject>, rbac::RoleRef) {
    let subjects = vec![
        rbac::Subject {
            kind: s("User"),
            api_group: s("rbac.authorization.k8s.io"),
            name: s("alice"),
            namespace: s(""),
        },
        rbac::Subject {
            kind: s("ServiceAccount"),
            api_group: s(""),
            name: s("builder"),
            namespace: s("ci"),
        },
    ];
    let role_ref = rbac::RoleRef {
        api_group: s("rbac.authorization.k8s.io"),
        kind: s("ClusterRole"),
        name: s("admin"),
    };
    (subjects, role_ref)
}

/// `kubectl create rolebinding admin --clusterrole=admin --user=alice --serviceaccount=ci:builder`.
#[test]
fn a_role_binding_has_its_subjects_and_role_ref() {
    let (subjects, role_ref) = subjects_and_role_ref();
    let binding = rbac::RoleBinding {
        metadata: Some(go_meta("admin", &[])),
        subjects,
        role_ref: Some(role_ref),
    };
    let json = decode_as::<k8s_openapi::api::rbac::v1::RoleBinding>(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        &binding,
    );
    assert_eq!(
        json,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "admin"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"}
        })
    );
}

#[test]
fn a_cluster_role_binding_decodes_like_a_role_binding() {
    let (subjects, role_ref) = subjects_and_role_ref();
    let binding = rbac::ClusterRoleBinding {
        metadata: Some(go_meta("admins", &[])),
        subjects,
        role_ref: Some(role_ref),
    };
    let json = decode_as::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &binding,
    );
    assert_eq!(json["kind"], "ClusterRoleBinding");
    assert_eq!(json["subjects"][1]["namespace"], "ci");
    assert_eq!(json["roleRef"]["name"], "admin");
}

/// `kubectl create poddisruptionbudget web --selector=app=web --min-available=50%`.
#[test]
fn a_pod_disruption_budget_has_int_or_string_bounds() {
    let budget = policy::PodDisruptionBudget {
        metadata: Some(go_meta("web", &[])),
        spec: Some(policy::PodDisruptionBudgetSpec {
            min_available: Some(string("50%")),
            selector: Some(meta::LabelSelector {
                match_labels: pairs(&[("app", "web")]),
                match_expressions: vec![],
            }),
            max_unavailable: None,
            unhealthy_pod_eviction_policy: s("AlwaysAllow"),
        }),
        status: Some(policy::PodDisruptionBudgetStatus::default()),
    };
    let json = decode_as::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(
        "policy/v1",
        "PodDisruptionBudget",
        &budget,
    );
    assert_eq!(
        json["spec"],
        json!({
            "minAvailable": "50%",
            "selector": {"matchLabels": {"app": "web"}},
            "unhealthyPodEvictionPolicy": "AlwaysAllow"
        })
    );
}

/// `kubectl create priorityclass high --value=1000 --description="high" --preemption-policy=Never`.
#[test]
fn a_priority_class_keeps_its_value_and_policy() {
    let class = scheduling::PriorityClass {
        metadata: Some(go_meta("high", &[])),
        value: Some(1000),
        global_default: Some(false),
        description: s("high"),
        preemption_policy: s("Never"),
    };
    let json = decode_as::<k8s_openapi::api::scheduling::v1::PriorityClass>(
        "scheduling.k8s.io/v1",
        "PriorityClass",
        &class,
    );
    assert_eq!(
        json,
        json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
            "description": "high",
            "preemptionPolicy": "Never"
        })
    );
}

/// `kubectl create ingress simple --class=nginx --rule="foo.com/bar=svc1:8080,tls=my-cert"
/// --default-backend=fallback:http`.
#[test]
fn an_ingress_from_kubectl_create_ingress_decodes() {
    let backend = |name: &str, port: networking::ServiceBackendPort| networking::IngressBackend {
        service: Some(networking::IngressServiceBackend {
            name: s(name),
            port: Some(port),
        }),
        resource: None,
    };
    let ingress = networking::Ingress {
        metadata: Some(go_meta("simple", &[])),
        spec: Some(networking::IngressSpec {
            ingress_class_name: s("nginx"),
            default_backend: Some(backend(
                "fallback",
                networking::ServiceBackendPort {
                    name: s("http"),
                    number: Some(0),
                },
            )),
            tls: vec![networking::IngressTls {
                hosts: strings(&["foo.com"]),
                secret_name: s("my-cert"),
            }],
            rules: vec![networking::IngressRule {
                host: s("foo.com"),
                ingress_rule_value: Some(networking::IngressRuleValue {
                    http: Some(networking::HttpIngressRuleValue {
                        paths: vec![networking::HttpIngressPath {
                            path: s("/bar"),
                            path_type: s("Exact"),
                            backend: Some(backend(
                                "svc1",
                                networking::ServiceBackendPort {
                                    name: s(""),
                                    number: Some(8080),
                                },
                            )),
                        }],
                    }),
                }),
            }],
        }),
        status: Some(networking::IngressStatus::default()),
    };
    let json = decode_as::<k8s_openapi::api::networking::v1::Ingress>(
        "networking.k8s.io/v1",
        "Ingress",
        &ingress,
    );
    assert_eq!(
        json["spec"],
        json!({
            "ingressClassName": "nginx",
            "defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
            "tls": [{"hosts": ["foo.com"], "secretName": "my-cert"}],
            "rules": [{"host": "foo.com", "http": {"paths": [{
                "path": "/bar",
                "pathType": "Exact",
                "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}
            }]}}]
        })
    );
}

/// `kubectl create token builder --audience=api --duration=10m --bound-object-kind=Pod ...`.
#[test]
fn a_token_request_from_kubectl_create_token_decodes() {
    let request = authentication::TokenRequest {
        metadata: Some(meta::ObjectMeta::default()),
        spec: Some(authentication::TokenRequestSpec {
            audiences: strings(&["api"]),
            expiration_seconds: Some(600),
            bound_object_ref: Some(authentication::BoundObjectReference {
                kind: s("Pod"),
                api_version: s("v1"),
                name: s("web-0"),
                u_id: s("6f1e3c1a-0000-4000-8000-000000000003"),
            }),
        }),
        status: Some(authentication::TokenRequestStatus::default()),
    };
    let json = decode_as::<k8s_openapi::api::authentication::v1::TokenRequest>(
        "authentication.k8s.io/v1",
        "TokenRequest",
        &request,
    );
    assert_eq!(
        json,
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {},
            "spec": {
                "audiences": ["api"],
                "expirationSeconds": 600,
                "boundObjectRef": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "name": "web-0",
                    "uid": "6f1e3c1a-0000-4000-8000-000000000003"
                }
            }
        })
    );
}

#[test]
fn object_meta_decodes_every_field() {
    let fields_v1 = br#"{"f:metadata":{"f:labels":{".":{}}}}"#;
    let config_map = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            name: s("owned"),
            generate_name: s("owned-"),
            namespace: s("apps"),
            self_link: s("/api/v1/namespaces/apps/configmaps/owned"),
            uid: s("6f1e3c1a-0000-4000-8000-000000000001"),
            resource_version: s("42"),
            generation: Some(3),
            creation_timestamp: Some(meta::Time {
                seconds: Some(1_704_164_645),
                nanos: Some(999),
            }),
            deletion_timestamp: Some(meta::Time {
                seconds: Some(1_704_164_700),
                nanos: Some(0),
            }),
            deletion_grace_period_seconds: Some(0),
            labels: pairs(&[("app", "web")]),
            annotations: pairs(&[("note", "x")]),
            owner_references: vec![meta::OwnerReference {
                api_version: s("apps/v1"),
                kind: s("Deployment"),
                name: s("web"),
                uid: s("6f1e3c1a-0000-4000-8000-000000000002"),
                controller: Some(true),
                block_owner_deletion: Some(false),
            }],
            finalizers: strings(&["example.com/cleanup"]),
            managed_fields: vec![meta::ManagedFieldsEntry {
                manager: s("kubectl-create"),
                operation: s("Update"),
                api_version: s("v1"),
                time: Some(meta::Time {
                    seconds: Some(1_704_164_645),
                    nanos: Some(0),
                }),
                fields_type: s("FieldsV1"),
                fields_v1: Some(meta::FieldsV1 {
                    raw: Some(fields_v1.to_vec()),
                }),
                subresource: s(""),
            }],
        }),
        ..Default::default()
    };
    let json = decode_as::<k8s_openapi::api::core::v1::ConfigMap>("v1", "ConfigMap", &config_map);
    assert_eq!(
        json["metadata"],
        json!({
            "name": "owned",
            "generateName": "owned-",
            "namespace": "apps",
            "selfLink": "/api/v1/namespaces/apps/configmaps/owned",
            "uid": "6f1e3c1a-0000-4000-8000-000000000001",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "deletionTimestamp": "2024-01-02T03:05:00Z",
            "deletionGracePeriodSeconds": 0,
            "labels": {"app": "web"},
            "annotations": {"note": "x"},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "uid": "6f1e3c1a-0000-4000-8000-000000000002",
                "controller": true,
                "blockOwnerDeletion": false
            }],
            "finalizers": ["example.com/cleanup"],
            "managedFields": [{
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2024-01-02T03:04:05Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}
            }]
        })
    );
}

#[test]
fn times_are_whole_seconds_in_utc_with_four_digit_years() {
    assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_704_164_645).unwrap(), "2024-01-02T03:04:05Z");
    assert_eq!(rfc3339(-62_135_596_800).unwrap(), "0001-01-01T00:00:00Z");
    assert_eq!(rfc3339(-62_167_219_200).unwrap(), "0000-01-01T00:00:00Z");
    assert_eq!(rfc3339(-1).unwrap(), "1969-12-31T23:59:59Z");
    assert_eq!(rfc3339(1_709_251_199).unwrap(), "2024-02-29T23:59:59Z");
    assert_eq!(rfc3339(951_825_600).unwrap(), "2000-02-29T12:00:00Z");
    assert_eq!(rfc3339(-2_203_891_200).unwrap(), "1900-03-01T00:00:00Z");
    assert_eq!(rfc3339(253_402_300_799).unwrap(), "9999-12-31T23:59:59Z");
    assert!(rfc3339(253_402_300_800).is_err());
    assert!(rfc3339(-62_167_219_201).is_err());
    assert!(rfc3339(i64::MIN).is_err());
    assert!(rfc3339(i64::MAX).is_err());
}

#[test]
fn times_agree_with_jiff_across_the_calendar() {
    // A stride that is not a whole number of days walks through every time of day as well.
    let mut seconds = -62_135_596_800_i64;
    while seconds < 253_402_000_000 {
        let expected = jiff::Timestamp::from_second(seconds)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        assert_eq!(rfc3339(seconds).unwrap(), expected, "at {seconds}s");
        seconds += 7_777_777;
    }
}

#[test]
fn base64_matches_the_standard_padded_alphabet() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"a"), "YQ==");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
    assert_eq!(base64(b"supersecret"), "c3VwZXJzZWNyZXQ=");
    assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
}

#[test]
fn an_unsupported_kind_says_to_send_json() {
    let error = decode_object(&body(
        "apps/v1",
        "StatefulSet",
        &apps::StatefulSet::default(),
    ))
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "protobuf request bodies are not supported for apps/v1 StatefulSet; send application/json"
    );
}

#[test]
fn a_kind_in_the_wrong_group_version_is_unsupported() {
    let error =
        decode_object(&body("apps/v1beta1", "Deployment", &kubectl_deployment())).unwrap_err();
    assert!(matches!(error, ProtobufError::UnsupportedKind { .. }));
}

#[test]
fn a_body_without_the_magic_is_refused() {
    let mut bytes = body("v1", "Namespace", &core::Namespace::default());
    bytes[3] = b'x';
    assert_eq!(decode_object(&bytes), Err(ProtobufError::MissingMagic));
    assert_eq!(
        decode_object(b"{\"kind\":\"Namespace\"}"),
        Err(ProtobufError::MissingMagic)
    );
    assert_eq!(decode_object(b""), Err(ProtobufError::MissingMagic));
}

#[test]
fn an_envelope_with_a_content_encoding_is_refused() {
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s("v1"),
            kind: s("Namespace"),
        }),
        raw: Some(vec![]),
        content_encoding: s("gzip"),
        content_type: s(""),
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(envelope.encode_to_vec());
    let error = decode_object(&bytes).unwrap_err();
    assert_eq!(error, ProtobufError::ContentEncoding("gzip".to_owned()));
    assert!(error.to_string().contains("send application/json"));
}

#[test]
fn an_envelope_as_go_writes_it_with_empty_content_fields_decodes() {
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s("v1"),
            kind: s("ServiceAccount"),
        }),
        raw: Some(
            core::ServiceAccount {
                metadata: Some(go_meta("sa", &[])),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        content_encoding: s(""),
        content_type: s(""),
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(envelope.encode_to_vec());
    assert_eq!(
        decode_object(&bytes).unwrap(),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}})
    );
}

#[test]
fn an_envelope_without_type_meta_or_object_is_refused() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend(
        Unknown {
            raw: Some(vec![]),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    assert_eq!(decode_object(&bytes), Err(ProtobufError::MissingTypeMeta));

    let mut bytes = MAGIC.to_vec();
    bytes.extend(
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: s("v1"),
                kind: s("Secret"),
            }),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    assert!(matches!(
        decode_object(&bytes),
        Err(ProtobufError::MissingObject { .. })
    ));
}

#[test]
fn an_int_or_string_of_unknown_type_is_an_error() {
    let service = core::Service {
        metadata: Some(go_meta("bad", &[])),
        spec: Some(go_service_spec(
            "ClusterIP",
            vec![go_service_port(
                "p",
                80,
                IntOrString {
                    r#type: Some(7),
                    int_val: Some(1),
                    str_val: s(""),
                },
                0,
            )],
        )),
        status: None,
    };
    let error = decode_object(&body("v1", "Service", &service)).unwrap_err();
    assert_eq!(
        error,
        ProtobufError::InvalidValue("IntOrString has unknown type 7".to_owned())
    );
}

#[test]
fn a_time_beyond_year_9999_is_an_error() {
    let namespace = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            creation_timestamp: Some(meta::Time {
                seconds: Some(i64::MAX),
                nanos: None,
            }),
            ..go_meta("late", &[])
        }),
        ..Default::default()
    };
    let error = decode_object(&body("v1", "Namespace", &namespace)).unwrap_err();
    assert!(matches!(error, ProtobufError::InvalidValue(_)), "{error}");
}

#[test]
fn a_legacy_volume_type_is_refused_rather_than_dropped() {
    let mut deployment = kubectl_deployment();
    let pod = deployment.spec.as_mut().unwrap().template.as_mut().unwrap();
    pod.spec.as_mut().unwrap().volumes = vec![volume(
        "disk",
        core::VolumeSource {
            gce_persistent_disk: Some(core::GcePersistentDiskVolumeSource::default()),
            ..Default::default()
        },
    )];
    let error = decode_object(&body("apps/v1", "Deployment", &deployment)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "protobuf request bodies with a volume source gcePersistentDisk are not supported; send application/json"
    );
}

#[test]
fn invalid_fields_v1_json_is_an_error() {
    let namespace = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            managed_fields: vec![meta::ManagedFieldsEntry {
                fields_v1: Some(meta::FieldsV1 {
                    raw: Some(b"{not json".to_vec()),
                }),
                ..Default::default()
            }],
            ..go_meta("ns", &[])
        }),
        ..Default::default()
    };
    let error = decode_object(&body("v1", "Namespace", &namespace)).unwrap_err();
    assert!(matches!(error, ProtobufError::InvalidValue(_)), "{error}");
}

#[test]
fn a_corrupt_object_inside_a_good_envelope_is_malformed() {
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s("apps/v1"),
            kind: s("Deployment"),
        }),
        raw: Some(vec![0x0a, 0x7f, 0x01]),
        content_encoding: None,
        content_type: None,
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(envelope.encode_to_vec());
    let error = decode_object(&bytes).unwrap_err();
    assert!(
        matches!(&error, ProtobufError::Malformed { what, .. } if what == "Deployment"),
        "{error}"
    );
}

/// xorshift64: deterministic noise for the fuzz-style tests without a dependency.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn every_truncation_of_a_valid_body_is_an_error() {
    let mut deployment = kubectl_deployment();
    deployment.spec.as_mut().unwrap().template = Some(core::PodTemplateSpec {
        metadata: Some(go_meta("", &[("app", "web")])),
        spec: Some(rich_pod_spec()),
    });
    let full = body("apps/v1", "Deployment", &deployment);
    assert!(decode_object(&full).is_ok());
    for length in 0..full.len() {
        assert!(
            decode_object(&full[..length]).is_err(),
            "a body cut to {length} of {} bytes decoded",
            full.len()
        );
    }
}

#[test]
fn random_bytes_and_corrupted_bodies_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for round in 0..2000 {
        let length = (noise(&mut seed) % 256) as usize;
        let mut bytes: Vec<u8> = (0..length).map(|_| noise(&mut seed) as u8).collect();
        if round % 2 == 0 {
            assert!(decode_object(&bytes).is_err() || bytes.starts_with(&MAGIC));
            bytes.splice(0..0, MAGIC);
        }
        let _ = decode_object(&bytes);
    }
    let valid = [
        body("apps/v1", "Deployment", &kubectl_deployment()),
        body("v1", "Secret", &core::Secret::default()),
    ];
    for full in valid {
        for _ in 0..2000 {
            let mut bytes = full.clone();
            for _ in 0..=noise(&mut seed) % 4 {
                let at = (noise(&mut seed) as usize) % bytes.len();
                bytes[at] = noise(&mut seed) as u8;
            }
            let _ = decode_object(&bytes);
        }
    }
}
