//! Protobuf request bodies as kubectl's typed clients send them, and a mutator that works on
//! the wire format: it re-parses length-delimited fields as nested messages and re-encodes
//! every length after a change, so damage reaches deep into the object instead of breaking the
//! framing at the first byte.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;

use control_apimachinery::protobuf::MAGIC;

use super::fuzz::Rng;

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
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
        .map(|(k, v)| ((*k).to_owned(), Quantity { string: s(v) }))
        .collect()
}

fn int_or_string(int: Option<i32>, text: &str) -> IntOrString {
    IntOrString {
        r#type: Some(if int.is_some() { 0 } else { 1 }),
        int_val: Some(int.unwrap_or(0)),
        str_val: s(text),
    }
}

fn object_meta(name: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: s(name),
        namespace: s("default"),
        generation: Some(0),
        creation_timestamp: Some(meta::Time {
            seconds: Some(1_714_560_000),
            nanos: Some(0),
        }),
        labels: pairs(&[("app", "web")]),
        annotations: pairs(&[("example.com/note", "hi")]),
        finalizers: vec!["example.com/f".into()],
        ..Default::default()
    }
}

fn pod_spec() -> core::PodSpec {
    let container = core::Container {
        name: s("nginx"),
        image: s("nginx:1.27"),
        ports: vec![core::ContainerPort {
            name: s("http"),
            container_port: Some(80),
            protocol: s("TCP"),
            ..Default::default()
        }],
        env: vec![
            core::EnvVar {
                name: s("A"),
                value: s("1"),
                value_from: None,
            },
            core::EnvVar {
                name: s("POD"),
                value: None,
                value_from: Some(core::EnvVarSource {
                    field_ref: Some(core::ObjectFieldSelector {
                        api_version: s("v1"),
                        field_path: s("metadata.name"),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: quantities(&[("cpu", "500m"), ("memory", "128Mi")]),
            requests: quantities(&[("cpu", "100m")]),
            claims: vec![],
        }),
        volume_mounts: vec![core::VolumeMount {
            name: s("data"),
            mount_path: s("/data"),
            ..Default::default()
        }],
        liveness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: s("/healthz"),
                    port: Some(int_or_string(None, "http")),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(10),
            ..Default::default()
        }),
        ..Default::default()
    };
    core::PodSpec {
        containers: vec![container],
        volumes: vec![core::Volume {
            name: s("data"),
            volume_source: Some(core::VolumeSource {
                empty_dir: Some(core::EmptyDirVolumeSource {
                    medium: s(""),
                    size_limit: Some(Quantity { string: s("1Gi") }),
                }),
                ..Default::default()
            }),
        }],
        restart_policy: s("Always"),
        termination_grace_period_seconds: Some(30),
        node_selector: pairs(&[("kubernetes.io/os", "linux")]),
        tolerations: vec![core::Toleration {
            key: s("dedicated"),
            operator: s("Equal"),
            value: s("web"),
            effect: s("NoSchedule"),
            toleration_seconds: None,
        }],
        ..Default::default()
    }
}

fn template() -> core::PodTemplateSpec {
    core::PodTemplateSpec {
        metadata: Some(meta::ObjectMeta {
            labels: pairs(&[("app", "web")]),
            ..Default::default()
        }),
        spec: Some(pod_spec()),
    }
}

fn selector() -> meta::LabelSelector {
    meta::LabelSelector {
        match_labels: pairs(&[("app", "web")]),
        match_expressions: vec![meta::LabelSelectorRequirement {
            key: s("tier"),
            operator: s("NotIn"),
            values: vec!["db".into()],
        }],
    }
}

fn envelope(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s(api_version),
            kind: s(kind),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: s(""),
        content_type: s(""),
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(unknown.encode_to_vec());
    bytes
}

/// Bodies of the kinds this server both decodes from protobuf and admits.
pub fn bodies() -> Vec<Vec<u8>> {
    let job_spec = batch::JobSpec {
        parallelism: Some(2),
        completions: Some(4),
        backoff_limit: Some(3),
        completion_mode: s("Indexed"),
        template: Some(core::PodTemplateSpec {
            metadata: None,
            spec: Some(core::PodSpec {
                restart_policy: s("Never"),
                ..pod_spec()
            }),
        }),
        ..Default::default()
    };
    vec![
        envelope(
            "v1",
            "Namespace",
            &core::Namespace {
                metadata: Some(object_meta("team-a")),
                spec: None,
                status: None,
            },
        ),
        envelope(
            "v1",
            "ConfigMap",
            &core::ConfigMap {
                metadata: Some(object_meta("cfg")),
                data: pairs(&[("k", "v")]),
                binary_data: [("b".to_string(), vec![0u8, 1, 2])].into_iter().collect(),
                immutable: Some(false),
            },
        ),
        envelope(
            "v1",
            "Secret",
            &core::Secret {
                metadata: Some(object_meta("s")),
                data: [("password".to_string(), b"hunter2".to_vec())]
                    .into_iter()
                    .collect(),
                string_data: pairs(&[("user", "admin")]),
                r#type: s("Opaque"),
                immutable: None,
            },
        ),
        envelope(
            "v1",
            "ServiceAccount",
            &core::ServiceAccount {
                metadata: Some(object_meta("builder")),
                secrets: vec![core::ObjectReference {
                    name: s("builder-token"),
                    ..Default::default()
                }],
                image_pull_secrets: vec![core::LocalObjectReference { name: s("regcred") }],
                automount_service_account_token: Some(false),
            },
        ),
        envelope(
            "v1",
            "Service",
            &core::Service {
                metadata: Some(object_meta("web")),
                spec: Some(core::ServiceSpec {
                    ports: vec![
                        core::ServicePort {
                            name: s("http"),
                            protocol: s("TCP"),
                            port: Some(80),
                            target_port: Some(int_or_string(Some(8080), "")),
                            node_port: Some(30080),
                            app_protocol: None,
                        },
                        core::ServicePort {
                            name: s("https"),
                            protocol: s("TCP"),
                            port: Some(443),
                            target_port: Some(int_or_string(None, "https")),
                            node_port: Some(0),
                            app_protocol: s("https"),
                        },
                    ],
                    selector: pairs(&[("app", "web")]),
                    r#type: s("NodePort"),
                    session_affinity: s("None"),
                    ..Default::default()
                }),
                status: None,
            },
        ),
        envelope(
            "v1",
            "ResourceQuota",
            &core::ResourceQuota {
                metadata: Some(object_meta("q")),
                spec: Some(core::ResourceQuotaSpec {
                    hard: quantities(&[("pods", "10"), ("requests.cpu", "4")]),
                    scopes: vec!["NotTerminating".into()],
                    scope_selector: None,
                }),
                status: None,
            },
        ),
        envelope(
            "apps/v1",
            "Deployment",
            &apps::Deployment {
                metadata: Some(object_meta("web")),
                spec: Some(apps::DeploymentSpec {
                    replicas: Some(3),
                    selector: Some(selector()),
                    template: Some(template()),
                    strategy: Some(apps::DeploymentStrategy {
                        r#type: s("RollingUpdate"),
                        rolling_update: Some(apps::RollingUpdateDeployment {
                            max_unavailable: Some(int_or_string(Some(1), "")),
                            max_surge: Some(int_or_string(None, "25%")),
                        }),
                    }),
                    min_ready_seconds: Some(5),
                    revision_history_limit: Some(10),
                    ..Default::default()
                }),
                status: None,
            },
        ),
        envelope(
            "batch/v1",
            "Job",
            &batch::Job {
                metadata: Some(object_meta("pi")),
                spec: Some(job_spec.clone()),
                status: None,
            },
        ),
        envelope(
            "batch/v1",
            "CronJob",
            &batch::CronJob {
                metadata: Some(object_meta("hello")),
                spec: Some(batch::CronJobSpec {
                    schedule: s("*/5 * * * *"),
                    time_zone: s("Europe/Paris"),
                    concurrency_policy: s("Forbid"),
                    job_template: Some(batch::JobTemplateSpec {
                        metadata: None,
                        spec: Some(job_spec),
                    }),
                    ..Default::default()
                }),
                status: None,
            },
        ),
    ]
}

/// One field of a protobuf message on the wire.
#[derive(Clone)]
enum Field {
    Varint(u32, u64),
    Fixed64(u32, [u8; 8]),
    Fixed32(u32, [u8; 4]),
    Bytes(u32, Vec<u8>),
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The fields of `bytes` if it is a well-formed message (no groups), else `None`.
fn parse(bytes: &[u8]) -> Option<Vec<Field>> {
    let mut at = 0;
    let mut fields = Vec::new();
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at)?;
        let number = u32::try_from(key >> 3).ok().filter(|n| *n > 0)?;
        match key & 7 {
            0 => fields.push(Field::Varint(number, read_varint(bytes, &mut at)?)),
            1 => {
                let raw = bytes.get(at..at + 8)?;
                fields.push(Field::Fixed64(number, raw.try_into().ok()?));
                at += 8;
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut at)?).ok()?;
                let raw = bytes.get(at..at.checked_add(len)?)?;
                fields.push(Field::Bytes(number, raw.to_vec()));
                at += len;
            }
            5 => {
                let raw = bytes.get(at..at + 4)?;
                fields.push(Field::Fixed32(number, raw.try_into().ok()?));
                at += 4;
            }
            _ => return None,
        }
    }
    Some(fields)
}

fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        match field {
            Field::Varint(n, v) => {
                write_varint(&mut out, u64::from(*n) << 3);
                write_varint(&mut out, *v);
            }
            Field::Fixed64(n, raw) => {
                write_varint(&mut out, (u64::from(*n) << 3) | 1);
                out.extend_from_slice(raw);
            }
            Field::Bytes(n, raw) => {
                write_varint(&mut out, (u64::from(*n) << 3) | 2);
                write_varint(&mut out, raw.len() as u64);
                out.extend_from_slice(raw);
            }
            Field::Fixed32(n, raw) => {
                write_varint(&mut out, (u64::from(*n) << 3) | 5);
                out.extend_from_slice(raw);
            }
        }
    }
    out
}

fn interesting_varint(rng: &mut Rng) -> u64 {
    *rng.pick(&[
        0,
        1,
        2,
        3,
        0x7f,
        0x80,
        0xffff,
        0x1_0000,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        // Negative int32/int64 values travel as ten-byte varints.
        u64::MAX,
        i64::MIN as u64,
        (-62_135_596_801_i64) as u64,
        253_402_300_800,
        253_402_300_799,
        (-62_167_219_200_i64) as u64,
    ])
}

fn interesting_bytes(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => Vec::new(),
        1 => b"\xff\xfe".to_vec(),
        2 => vec![b'a'; *rng.pick(&[63usize, 64, 254, 70_000])],
        3 => super::mutate::interesting_string(rng).into_bytes(),
        4 => (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect(),
        _ => super::mutate::WORDS[rng.below(super::mutate::WORDS.len())]
            .as_bytes()
            .to_vec(),
    }
}

/// Applies one structure-aware mutation to a message, descending into a nested message with
/// probability one half at each level.
pub fn mutate_message(rng: &mut Rng, bytes: &[u8], depth: usize) -> Vec<u8> {
    let Some(mut fields) = parse(bytes).filter(|f| !f.is_empty()) else {
        return interesting_bytes(rng);
    };
    let i = rng.below(fields.len());
    let descend = depth < 12 && rng.one_in(2) || depth < 2;
    match (&mut fields[i], rng.below(8)) {
        (Field::Bytes(_, inner), _) if descend && parse(inner).is_some_and(|f| !f.is_empty()) => {
            *inner = mutate_message(rng, inner, depth + 1);
        }
        (Field::Varint(_, v), 0..=3) => *v = interesting_varint(rng),
        (Field::Bytes(_, inner), 0..=3) => *inner = interesting_bytes(rng),
        (Field::Fixed64(_, raw), 0..=3) => *raw = rng.next_u64().to_le_bytes(),
        (Field::Fixed32(_, raw), 0..=3) => *raw = (rng.next_u64() as u32).to_le_bytes(),
        (_, 4) => {
            fields.remove(i);
        }
        (_, 5) => {
            let copy = fields[i].clone();
            fields.insert(i, copy);
        }
        (field, 6) => {
            // The same field number with another wire type.
            let number = match field {
                Field::Varint(n, _)
                | Field::Fixed64(n, _)
                | Field::Fixed32(n, _)
                | Field::Bytes(n, _) => *n,
            };
            *field = match rng.below(3) {
                0 => Field::Varint(number, interesting_varint(rng)),
                1 => Field::Bytes(number, interesting_bytes(rng)),
                _ => Field::Fixed32(number, [0xff; 4]),
            };
        }
        _ => {
            // A field this message does not have.
            let number = *rng.pick(&[15u32, 99, 1000, 536_870_911]);
            fields.push(Field::Varint(number, interesting_varint(rng)));
        }
    }
    encode(&fields)
}

/// A mutated body: magic kept, envelope and object damaged structurally.
pub fn mutate_body(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let mut message = body[MAGIC.len()..].to_vec();
    for _ in 0..=rng.below(3) {
        if rng.one_in(5) {
            message = mutate_message(rng, &message, 0);
            continue;
        }
        // Mostly damage the object inside the envelope (`raw`, field 2), not the envelope.
        let Some(mut fields) = parse(&message) else {
            continue;
        };
        for field in &mut fields {
            if let Field::Bytes(2, raw) = field {
                *raw = mutate_message(rng, raw, 1);
            }
        }
        message = encode(&fields);
    }
    out.extend(message);
    out
}
