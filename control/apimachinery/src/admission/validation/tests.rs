//! Validation tests on realistic manifests, run through decoding and defaulting first as the
//! server does, so they check what a kubectl user would actually see.

use serde_json::{json, Value};

use crate::admission::{apply_defaults, decode, generate_job_selector, validate, FieldErrorKind};
use crate::resources::by_kind;

/// Decodes, defaults and validates a new object; returns it and its error messages.
fn admit(api_version: &str, kind: &str, body: Value) -> (Value, Vec<String>) {
    let resource = by_kind(api_version, kind).unwrap();
    let mut obj = decode(resource, &body).unwrap().object;
    apply_defaults(resource, &mut obj);
    let errs = validate(resource, &obj, None);
    (obj, errs.iter().map(ToString::to_string).collect())
}

fn errors(api_version: &str, kind: &str, body: Value) -> Vec<String> {
    admit(api_version, kind, body).1
}

/// Validates `new` as an update of `old` (both decoded and defaulted).
fn update_errors(api_version: &str, kind: &str, old: Value, new: Value) -> Vec<String> {
    let resource = by_kind(api_version, kind).unwrap();
    let prepare = |v: Value| {
        let mut o = decode(resource, &v).unwrap().object;
        apply_defaults(resource, &mut o);
        o
    };
    let (old, new) = (prepare(old), prepare(new));
    validate(resource, &new, Some(&old))
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn assert_has(errs: &[String], expected: &str) {
    assert!(
        errs.iter().any(|e| e == expected),
        "missing {expected:?} in {errs:#?}"
    );
}

fn assert_has_prefix(errs: &[String], prefix: &str) {
    assert!(
        errs.iter().any(|e| e.starts_with(prefix)),
        "missing {prefix:?}... in {errs:#?}"
    );
}

fn pod(spec: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": spec
    })
}

fn nginx() -> Value {
    json!({"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]})
}

fn deployment(selector: Value, template_labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": selector,
            "template": {"metadata": {"labels": template_labels}, "spec": {"containers": [nginx()]}}
        }
    })
}

#[test]
fn a_valid_object_of_every_kind_passes() {
    let cases = vec![
        ("v1", "Namespace", json!({"metadata": {"name": "team-a"}})),
        ("v1", "Pod", pod(json!({"containers": [nginx()]}))),
        (
            "v1",
            "Service",
            json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        ),
        (
            "v1",
            "Endpoints",
            json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]}),
        ),
        (
            "v1",
            "ConfigMap",
            json!({"metadata": {"name": "cfg", "namespace": "default"}, "data": {"app.properties": "a=b"}}),
        ),
        (
            "v1",
            "Secret",
            json!({"metadata": {"name": "s", "namespace": "default"}, "stringData": {"password": "hunter2"}}),
        ),
        (
            "v1",
            "ServiceAccount",
            json!({"metadata": {"name": "builder", "namespace": "default"}}),
        ),
        (
            "v1",
            "Node",
            json!({"metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}, "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}),
        ),
        (
            "v1",
            "Event",
            json!({"metadata": {"name": "web.17a", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"}, "reason": "Started", "message": "Started container", "type": "Normal"}),
        ),
        (
            "v1",
            "ReplicationController",
            json!({"metadata": {"name": "rc", "namespace": "default"}, "spec": {"template": {"metadata": {"labels": {"app": "rc"}}, "spec": {"containers": [nginx()]}}}}),
        ),
        (
            "v1",
            "ResourceQuota",
            json!({"metadata": {"name": "q", "namespace": "default"}, "spec": {"hard": {"pods": "10", "requests.cpu": "4", "limits.memory": "8Gi"}}}),
        ),
        (
            "v1",
            "LimitRange",
            json!({"metadata": {"name": "lr", "namespace": "default"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}, "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "200m"}}]}}),
        ),
        (
            "apps/v1",
            "Deployment",
            deployment(
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "web"}),
            ),
        ),
        (
            "apps/v1",
            "ReplicaSet",
            json!({"metadata": {"name": "rs", "namespace": "default"}, "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [nginx()]}}}}),
        ),
        (
            "apps/v1",
            "StatefulSet",
            json!({"metadata": {"name": "db", "namespace": "default"}, "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16", "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}]}]}}, "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
        ),
        (
            "apps/v1",
            "DaemonSet",
            json!({"metadata": {"name": "agent", "namespace": "kube-system"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "agent", "image": "busybox"}]}}}}),
        ),
        (
            "apps/v1",
            "ControllerRevision",
            json!({"metadata": {"name": "web-5d4f", "namespace": "default"}, "data": {"spec": {}}, "revision": 1}),
        ),
        (
            "batch/v1",
            "CronJob",
            json!({"metadata": {"name": "hello", "namespace": "default"}, "spec": {"schedule": "*/5 * * * *", "timeZone": "Europe/Paris", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox"}]}}}}}}),
        ),
        (
            "coordination.k8s.io/v1",
            "Lease",
            json!({"metadata": {"name": "leader", "namespace": "kube-system"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
        ),
        (
            "discovery.k8s.io/v1",
            "EndpointSlice",
            json!({"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": true}}], "ports": [{"name": "http", "port": 80}]}),
        ),
        (
            "certificates.k8s.io/v1",
            "CertificateSigningRequest",
            json!({"metadata": {"name": "alice"}, "spec": {"request": crate::admission::json::base64_encode(b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"), "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"], "expirationSeconds": 86400}}),
        ),
    ];
    for (api_version, kind, body) in cases {
        let errs = errors(api_version, kind, body);
        assert!(errs.is_empty(), "{kind}: {errs:#?}");
    }
}

#[test]
fn object_names_must_be_dns_subdomains() {
    let mut body = pod(json!({"containers": [nginx()]}));
    body["metadata"]["name"] = json!("Bad_Name");
    assert_has(
        &errors("v1", "Pod", body),
        "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
}

#[test]
fn namespaces_and_services_have_stricter_name_rules() {
    let errs = errors("v1", "Namespace", json!({"metadata": {"name": "team.a"}}));
    assert_eq!(
        errs,
        vec!["metadata.name: Invalid value: \"team.a\": must not contain dots".to_string()]
    );
    let errs = errors(
        "v1",
        "Service",
        json!({"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}}),
    );
    assert_has_prefix(&errs, "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character");
}

#[test]
fn names_are_required_and_generate_name_prefixes_may_end_in_a_dash() {
    let errs = errors(
        "v1",
        "ConfigMap",
        json!({"metadata": {"namespace": "default"}}),
    );
    assert_eq!(
        errs,
        vec!["metadata.name: Required value: name or generateName is required".to_string()]
    );
    let errs = errors(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "web-x7k2b", "generateName": "web-", "namespace": "default"}}),
    );
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn namespaced_kinds_need_a_namespace_and_cluster_kinds_refuse_one() {
    let errs = errors("v1", "ConfigMap", json!({"metadata": {"name": "c"}}));
    assert_eq!(errs, vec!["metadata.namespace: Required value".to_string()]);
    let errs = errors(
        "v1",
        "Node",
        json!({"metadata": {"name": "n", "namespace": "default"}}),
    );
    assert_eq!(
        errs,
        vec!["metadata.namespace: Forbidden: not allowed on this type".to_string()]
    );
}

#[test]
fn labels_and_annotations_are_checked() {
    let body = json!({"metadata": {"name": "c", "namespace": "default",
        "labels": {"bad key!": "ok", "app": "-bad"},
        "annotations": {"big": "x".repeat(300 * 1024)}}});
    let errs = errors("v1", "ConfigMap", body);
    assert_has_prefix(&errs, "metadata.labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters");
    assert_has_prefix(&errs, "metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters");
    assert_has(
        &errs,
        "metadata.annotations: Too long: may not be more than 262144 bytes",
    );
}

#[test]
fn pods_need_containers_with_names_and_images() {
    assert_has(
        &errors("v1", "Pod", pod(json!({"containers": []}))),
        "spec.containers: Required value",
    );
    let errs = errors(
        "v1",
        "Pod",
        pod(
            json!({"containers": [{"name": "web"}, {"name": "web", "image": "nginx"}, {"name": "Web", "image": "nginx"}]}),
        ),
    );
    assert_has(&errs, "spec.containers[0].image: Required value");
    assert_has(&errs, "spec.containers[1].name: Duplicate value: \"web\"");
    assert_has_prefix(
        &errs,
        "spec.containers[2].name: Invalid value: \"Web\": a lowercase RFC 1123 label",
    );
}

#[test]
fn container_ports_and_protocols_are_checked() {
    let errs = errors(
        "v1",
        "Pod",
        pod(json!({"containers": [{"name": "web", "image": "nginx",
        "ports": [{"containerPort": 70000}, {"containerPort": 53, "protocol": "ICMP"}, {"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}]}]})),
    );
    assert_has(&errs, "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive");
    assert_has(&errs, "spec.containers[0].ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"");
    assert_has(
        &errs,
        "spec.containers[0].ports[3].name: Duplicate value: \"http\"",
    );
}

#[test]
fn restart_and_dns_policies_are_enumerations() {
    let errs = errors(
        "v1",
        "Pod",
        pod(json!({"restartPolicy": "Sometimes", "dnsPolicy": "Google", "containers": [nginx()]})),
    );
    assert_has(&errs, "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"");
    assert_has(&errs, "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"");
}

#[test]
fn volumes_must_be_unique_and_mounts_must_exist() {
    let errs = errors(
        "v1",
        "Pod",
        pod(json!({
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}, "secret": {"secretName": "s"}}],
            "containers": [{"name": "web", "image": "nginx", "volumeMounts": [{"name": "logs", "mountPath": "/logs"}, {"name": "data", "mountPath": "/logs"}]}]
        })),
    );
    assert_has(&errs, "spec.volumes[1].name: Duplicate value: \"data\"");
    assert_has(
        &errs,
        "spec.volumes[2].configMap: Forbidden: may not specify more than 1 volume type",
    );
    assert_has(
        &errs,
        "spec.containers[0].volumeMounts[0].name: Not found: \"logs\"",
    );
    assert_has(
        &errs,
        "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/logs\": must be unique",
    );
}

#[test]
fn requests_may_not_exceed_limits_and_names_must_be_standard() {
    let errs = errors(
        "v1",
        "Pod",
        pod(json!({"containers": [{"name": "web", "image": "nginx",
        "resources": {"requests": {"cpu": "2", "memory": "64Mi"}, "limits": {"cpu": "500m", "cpuu": "1"}}}]})),
    );
    assert_has(&errs, "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 500m");
    assert_has(&errs, "spec.containers[0].resources.limits[cpuu]: Invalid value: \"cpuu\": must be a standard resource type or fully qualified");
    assert_has(&errs, "spec.containers[0].resources.limits[cpuu]: Invalid value: \"cpuu\": must be a standard resource for containers");
    let errs = errors(
        "v1",
        "Pod",
        pod(json!({"containers": [{"name": "gpu", "image": "cuda",
        "resources": {"requests": {"nvidia.com/gpu": "1"}}}]})),
    );
    assert_has(&errs, "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources");
}

#[test]
fn env_names_reject_equals_signs_and_sources_must_be_single() {
    let errs = errors(
        "v1",
        "Pod",
        pod(
            json!({"containers": [{"name": "web", "image": "nginx", "env": [
                {"name": "A=B", "value": "x"},
                {"name": "NODE", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "BAD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}
            ]}]}),
        ),
    );
    assert_has(&errs, "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='");
    assert_has(&errs, "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty");
    assert_has_prefix(&errs, "spec.containers[0].env[2].valueFrom.fieldRef.fieldPath: Unsupported value: \"metadata.labels\"");
}

#[test]
fn probes_need_exactly_one_handler() {
    let errs = errors(
        "v1",
        "Pod",
        pod(json!({"containers": [{"name": "web", "image": "nginx",
        "livenessProbe": {"periodSeconds": 5},
        "readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}}]})),
    );
    assert_has(
        &errs,
        "spec.containers[0].livenessProbe: Required value: must specify a handler type",
    );
    assert_has(&errs, "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type");
}

#[test]
fn tolerations_are_checked() {
    let errs = errors(
        "v1",
        "Pod",
        pod(json!({"containers": [nginx()], "tolerations": [
            {"operator": "Equal", "value": "x"},
            {"key": "a", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}
        ]})),
    );
    assert_has(&errs, "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
    assert_has(&errs, "spec.tolerations[1].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set");
}

#[test]
fn pod_updates_may_change_images_but_little_else() {
    let old = pod(json!({"containers": [nginx()]}));
    let mut new_image = old.clone();
    new_image["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    new_image["spec"]["tolerations"] =
        json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]);
    assert!(update_errors("v1", "Pod", old.clone(), new_image).is_empty());
    let mut new_restart = old.clone();
    new_restart["spec"]["restartPolicy"] = json!("Never");
    let errs = update_errors("v1", "Pod", old.clone(), new_restart);
    assert_has_prefix(
        &errs,
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,",
    );
    let mut more = old.clone();
    more["spec"]["containers"] = json!([nginx(), {"name": "side", "image": "busybox"}]);
    assert_eq!(
        update_errors("v1", "Pod", old.clone(), more),
        vec![
            "spec.containers: Forbidden: pod updates may not add or remove containers".to_string()
        ]
    );
    let mut renamed = old;
    renamed["metadata"]["name"] = json!("other");
    assert_has(
        &update_errors("v1", "Pod", pod(json!({"containers": [nginx()]})), renamed),
        "metadata.name: Invalid value: \"other\": field is immutable",
    );
}

#[test]
fn services_need_ports_unless_headless_or_external_names() {
    let svc =
        |spec: Value| json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
    assert_has(
        &errors("v1", "Service", svc(json!({"selector": {"app": "web"}}))),
        "spec.ports: Required value",
    );
    assert!(errors(
        "v1",
        "Service",
        svc(json!({"clusterIP": "None", "selector": {"app": "web"}}))
    )
    .is_empty());
    assert_has(
        &errors("v1", "Service", svc(json!({"type": "ExternalName"}))),
        "spec.externalName: Required value",
    );
    assert!(errors(
        "v1",
        "Service",
        svc(json!({"type": "ExternalName", "externalName": "db.example.com."}))
    )
    .is_empty());
}

#[test]
fn service_ports_names_types_and_node_ports_are_checked() {
    let body = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"type": "NodePort", "ports": [
        {"port": 80, "nodePort": 80},
        {"port": 0},
        {"name": "https", "port": 443, "targetPort": "Https_Port"}
    ]}});
    let errs = errors("v1", "Service", body);
    assert_has(&errs, "spec.ports[0].name: Required value");
    assert_has(
        &errs,
        "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
    );
    assert_has_prefix(&errs, "spec.ports[2].targetPort: Invalid value: \"Https_Port\": must contain only alpha-numeric characters");
    assert_has(&errs, "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767");
    let errs = errors(
        "v1",
        "Service",
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"type": "Fancy", "ports": [{"port": 80}]}}),
    );
    assert_has(&errs, "spec.type: Unsupported value: \"Fancy\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"");
    let errs = errors(
        "v1",
        "Service",
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"ports": [{"port": 80, "nodePort": 30080}]}}),
    );
    assert_has(
        &errs,
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    );
}

#[test]
fn service_cluster_ips_never_change() {
    let old = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}});
    let mut new = old.clone();
    new["spec"]["clusterIP"] = json!("10.96.0.11");
    new["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
    assert_has(
        &update_errors("v1", "Service", old, new),
        "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set",
    );
}

#[test]
fn deployments_need_a_selector_matching_their_template() {
    let mut body = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
    );
    body["spec"].as_object_mut().unwrap().remove("selector");
    let errs = errors("apps/v1", "Deployment", body);
    assert_eq!(
        errs,
        vec![
            "spec.selector: Required value".to_string(),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`".to_string(),
        ]
    );
    let errs = errors(
        "apps/v1",
        "Deployment",
        deployment(
            json!({"matchLabels": {"app": "api"}}),
            json!({"app": "web"}),
        ),
    );
    assert_eq!(
        errs,
        vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`".to_string()]
    );
}

#[test]
fn deployments_check_replicas_strategy_and_template_restart_policy() {
    let mut body = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
    );
    body["spec"]["replicas"] = json!(-1);
    body["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
    body["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure");
    let errs = errors("apps/v1", "Deployment", body);
    assert_has(
        &errs,
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
    assert_has(&errs, "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0");
    assert_has(&errs, "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"");
}

#[test]
fn deployment_selectors_are_immutable() {
    let old = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web", "v": "2"}),
    );
    let new = deployment(
        json!({"matchLabels": {"app": "web", "v": "2"}}),
        json!({"app": "web", "v": "2"}),
    );
    let errs = update_errors("apps/v1", "Deployment", old.clone(), new);
    assert_eq!(
        errs,
        vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable".to_string()]
    );
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = json!(5);
    assert!(update_errors("apps/v1", "Deployment", old, scaled).is_empty());
}

#[test]
fn stateful_set_updates_are_limited_to_the_mutable_fields() {
    let sts = json!({"metadata": {"name": "db", "namespace": "default"}, "spec": {"serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}});
    let mut new = sts.clone();
    new["spec"]["serviceName"] = json!("other");
    assert_eq!(
        update_errors("apps/v1", "StatefulSet", sts.clone(), new),
        vec!["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".to_string()]
    );
    let mut new = sts.clone();
    new["spec"]["replicas"] = json!(3);
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
    assert!(update_errors("apps/v1", "StatefulSet", sts, new).is_empty());
}

#[test]
fn daemon_sets_and_replication_controllers_require_always_restarting_pods() {
    let errs = errors(
        "apps/v1",
        "DaemonSet",
        json!({"metadata": {"name": "a", "namespace": "default"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"restartPolicy": "Never", "containers": [nginx()]}}}}),
    );
    assert_eq!(errs, vec!["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"".to_string()]);
    let errs = errors(
        "v1",
        "ReplicationController",
        json!({"metadata": {"name": "rc", "namespace": "default"}, "spec": {
        "selector": {"app": "other"}, "replicas": -2,
        "template": {"metadata": {"labels": {"app": "rc"}}, "spec": {"containers": [nginx()]}}}}),
    );
    assert_has(
        &errs,
        "spec.replicas: Invalid value: -2: must be greater than or equal to 0",
    );
    assert_has(&errs, "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"rc\"}: `selector` does not match template `labels`");
}

fn job(restart_policy: Option<&str>) -> Value {
    let mut spec = json!({"containers": [{"name": "pi", "image": "perl:5.34", "command": ["perl", "-e", "print 1"]}]});
    if let Some(rp) = restart_policy {
        spec["restartPolicy"] = json!(rp);
    }
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": "0b6b4a22-7c47-4d6b-9f1c-4f6d6f0e1a2b"},
        "spec": {"template": {"spec": spec}}})
}

/// The server's create path for a Job: decode, generate the selector from the uid, default.
fn admit_job(body: Value) -> (Value, Vec<String>) {
    let jobs = by_kind("batch/v1", "Job").unwrap();
    let mut obj = decode(jobs, &body).unwrap().object;
    let uid = obj["metadata"]["uid"].as_str().unwrap().to_string();
    generate_job_selector(&mut obj, &uid);
    apply_defaults(jobs, &mut obj);
    let errs = validate(jobs, &obj, None)
        .iter()
        .map(ToString::to_string)
        .collect();
    (obj, errs)
}

#[test]
fn jobs_with_generated_selectors_validate() {
    let (obj, errs) = admit_job(job(Some("Never")));
    assert!(errs.is_empty(), "{errs:#?}");
    assert_eq!(obj["metadata"]["labels"]["job-name"], "pi");
}

#[test]
fn jobs_must_not_restart_always() {
    let (_, errs) = admit_job(job(None));
    assert_eq!(errs, vec!["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"".to_string()]);
    let mut body = job(Some("Never"));
    body["spec"]["parallelism"] = json!(-1);
    body["spec"]["completionMode"] = json!("Sometimes");
    let (_, errs) = admit_job(body);
    assert_has(
        &errs,
        "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
    );
    assert_has(&errs, "spec.completionMode: Unsupported value: \"Sometimes\": supported values: \"NonIndexed\", \"Indexed\"");
}

#[test]
fn jobs_without_a_selector_are_rejected() {
    let errs = errors("batch/v1", "Job", job(Some("Never")));
    assert_has(&errs, "spec.selector: Required value");
}

#[test]
fn job_templates_are_immutable_once_running() {
    let (old, _) = admit_job(job(Some("Never")));
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:5.40");
    let jobs = by_kind("batch/v1", "Job").unwrap();
    let errs: Vec<String> = validate(jobs, &new, Some(&old))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].starts_with("spec.template: Invalid value: "));
    assert!(errs[0].ends_with(": field is immutable"));
    let mut new = old.clone();
    new["spec"]["selector"]["matchLabels"]["x"] = json!("y");
    let errs: Vec<String> = validate(jobs, &new, Some(&old))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        errs.iter().any(
            |e| e.starts_with("spec.selector: Invalid value: v1.LabelSelector{")
                && e.ends_with("field is immutable")
        ),
        "{errs:#?}"
    );
}

#[test]
fn cron_jobs_check_schedule_time_zone_and_name_length() {
    let cron = |name: &str, schedule: &str, tz: Value| {
        json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"schedule": schedule, "timeZone": tz,
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "a", "image": "busybox"}]}}}}}})
    };
    let errs = errors(
        "batch/v1",
        "CronJob",
        cron("hello", "61 * * * *", Value::Null),
    );
    assert_eq!(errs, vec!["spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61".to_string()]);
    let errs = errors(
        "batch/v1",
        "CronJob",
        cron("hello", "TZ=UTC * * * * *", Value::Null),
    );
    assert_has(&errs, "spec.schedule: Invalid value: \"TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
    let errs = errors(
        "batch/v1",
        "CronJob",
        cron("hello", "@daily", json!("Local")),
    );
    assert_eq!(errs, vec!["spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones".to_string()]);
    let long = "a".repeat(53);
    let errs = errors("batch/v1", "CronJob", cron(&long, "@daily", Value::Null));
    assert_eq!(
        errs,
        vec![format!(
            "metadata.name: Invalid value: \"{long}\": must be no more than 52 characters"
        )]
    );
    let errs = errors("batch/v1", "CronJob", cron("hello", "", Value::Null));
    assert_eq!(errs, vec!["spec.schedule: Required value".to_string()]);
}

#[test]
fn config_maps_check_keys_size_and_immutability() {
    let errs = errors(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"bad/key": "x"}}),
    );
    assert_has_prefix(&errs, "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
    let errs = errors(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"big": "x".repeat(1024 * 1024 + 1)}}),
    );
    assert_eq!(
        errs,
        vec!["[]: Too long: may not be more than 1048576 bytes".to_string()]
    );
    let old = json!({"metadata": {"name": "c", "namespace": "default"}, "immutable": true, "data": {"a": "1"}});
    let mut new = old.clone();
    new["data"]["a"] = json!("2");
    assert_eq!(
        update_errors("v1", "ConfigMap", old, new),
        vec!["data: Forbidden: field is immutable when `immutable` is set".to_string()]
    );
}

#[test]
fn secrets_check_type_specific_keys() {
    let secret = |ty: &str, data: Value| json!({"metadata": {"name": "s", "namespace": "default"}, "type": ty, "data": data});
    let errs = errors(
        "v1",
        "Secret",
        secret("kubernetes.io/tls", json!({"tls.crt": "Y2VydA=="})),
    );
    assert_eq!(errs, vec!["data[tls.key]: Required value".to_string()]);
    let errs = errors(
        "v1",
        "Secret",
        secret(
            "kubernetes.io/dockerconfigjson",
            json!({".dockerconfigjson": crate::admission::json::base64_encode(b"{not json")}),
        ),
    );
    assert_has_prefix(
        &errs,
        "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": ",
    );
    let errs = errors(
        "v1",
        "Secret",
        secret("kubernetes.io/service-account-token", json!({})),
    );
    assert_eq!(
        errs,
        vec![
            "metadata.annotations[kubernetes.io/service-account.name]: Required value".to_string()
        ]
    );
    let old = secret("Opaque", json!({"a": "MQ=="}));
    let new = secret("kubernetes.io/basic-auth", json!({"username": "dXNlcg=="}));
    assert_eq!(
        update_errors("v1", "Secret", old, new),
        vec!["type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable".to_string()]
    );
}

#[test]
fn leases_slices_and_events_are_checked() {
    let errs = errors(
        "coordination.k8s.io/v1",
        "Lease",
        json!({"metadata": {"name": "l", "namespace": "default"}, "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}}),
    );
    assert_eq!(
        errs,
        vec![
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0".to_string(),
            "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"
                .to_string(),
        ]
    );
    let errs = errors(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        json!({"metadata": {"name": "e", "namespace": "default"}, "addressType": "IPv5", "endpoints": [{"addresses": []}]}),
    );
    assert_has(
        &errs,
        "addressType: Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\"",
    );
    assert_has(
        &errs,
        "endpoints[0].addresses: Required value: must contain at least 1 address",
    );
    let errs = errors(
        "v1",
        "Event",
        json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"}}),
    );
    assert_eq!(
        errs,
        vec![
            "involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"
                .to_string()
        ]
    );
}

#[test]
fn certificate_signing_requests_need_request_usages_and_signer() {
    let errs = errors(
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        json!({"metadata": {"name": "csr"}, "spec": {"request": "", "usages": ["flying"]}}),
    );
    assert_has(
        &errs,
        "spec.request: Invalid value: []byte{...}: PEM block type must be CERTIFICATE REQUEST",
    );
    assert_has_prefix(
        &errs,
        "spec.usages[0]: Unsupported value: \"flying\": supported values: \"any\", ",
    );
    assert_has(&errs, "spec.signerName: Required value");
    let errs = errors(
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        json!({"metadata": {"name": "csr"}, "spec": {"usages": []}}),
    );
    assert_has(&errs, "spec.usages: Required value");
}

#[test]
fn quotas_limit_ranges_and_nodes_are_checked() {
    let errs = errors(
        "v1",
        "ResourceQuota",
        json!({"metadata": {"name": "q", "namespace": "default"}, "spec": {"hard": {"pods": "-1", "widgets": "3"}}}),
    );
    assert_has(
        &errs,
        "spec.hard[pods]: Invalid value: \"-1\": must be greater than or equal to 0",
    );
    assert_has(
        &errs,
        "spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource for quota",
    );
    let errs = errors(
        "v1",
        "LimitRange",
        json!({"metadata": {"name": "l", "namespace": "default"}, "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}}),
    );
    assert_has(
        &errs,
        "spec.limits[0].min[cpu]: Invalid value: 2: min value 2 is greater than max value 1",
    );
    let errs = errors(
        "v1",
        "Node",
        json!({"metadata": {"name": "n"}, "spec": {"taints": [
        {"key": "a", "effect": "NoSchedule"}, {"key": "a", "value": "b", "effect": "NoSchedule"}, {"key": "c"}]}}),
    );
    assert_has(&errs, "metadata.taints[2].effect: Required value");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("metadata.taints[1]: Duplicate value:")
                && e.ends_with("taints must be unique by key and effect pair")),
        "{errs:#?}"
    );
}

#[test]
fn errors_carry_status_cause_reasons() {
    let resource = by_kind("v1", "Pod").unwrap();
    let mut obj = decode(resource, &pod(json!({"containers": [{"name": "web"}]})))
        .unwrap()
        .object;
    apply_defaults(resource, &mut obj);
    let errs = validate(resource, &obj, None);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].kind, FieldErrorKind::Required);
    assert_eq!(
        errs[0].to_cause(),
        json!({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"})
    );
}
