//! Random JSON values and structure-aware mutations of valid objects: type changes, dropped
//! and unknown fields, huge and non-ASCII strings, integer extremes, floats where integers
//! belong, and Kubernetes-flavoured strings that steer into deeper validation paths.

use serde_json::{json, Map, Number, Value};

use super::fuzz::Rng;

/// Strings a Kubernetes object is likely to hold somewhere, valid or almost valid.
pub const WORDS: &[&str] = &[
    "",
    " ",
    "a",
    "web",
    "nginx",
    "nginx:1.27",
    "default",
    "kube-system",
    "Always",
    "Never",
    "OnFailure",
    "IfNotPresent",
    "RollingUpdate",
    "Recreate",
    "OnDelete",
    "Parallel",
    "OrderedReady",
    "Indexed",
    "NonIndexed",
    "ClusterIP",
    "NodePort",
    "LoadBalancer",
    "ExternalName",
    "None",
    "Cluster",
    "Local",
    "SingleStack",
    "PreferDualStack",
    "RequireDualStack",
    "TCP",
    "UDP",
    "SCTP",
    "IPv4",
    "IPv6",
    "FQDN",
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "Gt",
    "Lt",
    "Equal",
    "NoExecute",
    "NoSchedule",
    "PreferNoSchedule",
    "Opaque",
    "kubernetes.io/tls",
    "kubernetes.io/service-account-token",
    "kubernetes.io/dockerconfigjson",
    "Container",
    "Pod",
    "PersistentVolumeClaim",
    "True",
    "False",
    "Unknown",
    "Ready",
    "Running",
    "Pending",
    "Succeeded",
    "Failed",
    "Complete",
    "Approved",
    "Denied",
    "ReadWriteOnce",
    "Burstable",
    "BestEffort",
    "Guaranteed",
    "RuntimeDefault",
    "Localhost",
    "Unconfined",
    "Allow",
    "Forbid",
    "Replace",
    "FailJob",
    "Ignore",
    "Count",
    "10.0.0.1",
    "10.96.0.10",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "127.0.0.1",
    "169.254.169.254",
    "::1",
    "fd00::3",
    "fe80::1%eth0",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "fd00::/8",
    "10.0.0.1/33",
    "1.2.3.4/",
    "example.com",
    "a.b.c.d.e.f.g",
    "-leading-dash",
    "trailing-dash-",
    "UPPER",
    "under_score",
    "dots..dots",
    "app.kubernetes.io/name",
    "kubernetes.io/hostname",
    "node-role.kubernetes.io/control-plane",
    "/a/b",
    "a/b/c",
    "*",
    "?",
    "*/5 * * * *",
    "0 0 * * 0",
    "@hourly",
    "@every 1h30m",
    "@every -5s",
    "TZ=UTC * * * * *",
    "CRON_TZ=Europe/Paris 0 * * * *",
    "60 24 32 13 7",
    "1-2-3 * * * *",
    "Europe/Paris",
    "Local",
    "1",
    "0",
    "-1",
    "1Gi",
    "500m",
    "0.5",
    "1e3",
    "1E-3",
    "-2Mi",
    "+1k",
    "1.2.3",
    "1kk",
    "1Ki",
    "0.000000001",
    "123456789012345678901234567890123456789",
    ".5",
    "5.",
    "25%",
    "150%",
    "-5%",
    "%",
    "http",
    "HTTP",
    "HTTPS",
    "grpc",
    "2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00.123456Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2024-13-45T25:61:61Z",
    "garbage-time",
    "client auth",
    "server auth",
    "kubernetes.io/kube-apiserver-client",
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
    "not base64!",
    "$patch",
    "\u{0}",
    "\u{7f}",
    "tab\there",
    "new\nline",
    "quote\"quote",
    "back\\slash",
    "émigré",
    "日本語",
    "🦀",
    "\u{200b}zero-width",
    "\u{feff}bom",
    "\u{2028}",
    "a,b=c",
    "key=value",
    "!key",
    "x in (a,b)",
];

/// Keys that steer mutations into fields the validators and printers read.
pub const KEYS: &[&str] = &[
    "name",
    "namespace",
    "generateName",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "uid",
    "resourceVersion",
    "deletionTimestamp",
    "creationTimestamp",
    "managedFields",
    "spec",
    "status",
    "containers",
    "initContainers",
    "ephemeralContainers",
    "image",
    "ports",
    "containerPort",
    "hostPort",
    "port",
    "targetPort",
    "nodePort",
    "protocol",
    "env",
    "value",
    "valueFrom",
    "envFrom",
    "resources",
    "limits",
    "requests",
    "claims",
    "cpu",
    "memory",
    "ephemeral-storage",
    "hugepages-2Mi",
    "volumeMounts",
    "mountPath",
    "volumes",
    "emptyDir",
    "sizeLimit",
    "hostPath",
    "configMap",
    "secret",
    "projected",
    "items",
    "path",
    "key",
    "restartPolicy",
    "replicas",
    "selector",
    "matchLabels",
    "matchExpressions",
    "operator",
    "values",
    "template",
    "strategy",
    "rollingUpdate",
    "maxSurge",
    "maxUnavailable",
    "minReadySeconds",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "type",
    "clusterIP",
    "clusterIPs",
    "ipFamilies",
    "ipFamilyPolicy",
    "externalIPs",
    "externalName",
    "sessionAffinity",
    "loadBalancerSourceRanges",
    "tolerations",
    "effect",
    "tolerationSeconds",
    "affinity",
    "nodeSelector",
    "nodeName",
    "hostname",
    "subdomain",
    "dnsPolicy",
    "dnsConfig",
    "nameservers",
    "searches",
    "securityContext",
    "runAsUser",
    "fsGroup",
    "sysctls",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "httpGet",
    "tcpSocket",
    "exec",
    "grpc",
    "periodSeconds",
    "successThreshold",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "priority",
    "overhead",
    "topologySpreadConstraints",
    "maxSkew",
    "completions",
    "parallelism",
    "backoffLimit",
    "completionMode",
    "podFailurePolicy",
    "successPolicy",
    "ttlSecondsAfterFinished",
    "schedule",
    "timeZone",
    "jobTemplate",
    "concurrencyPolicy",
    "suspend",
    "startingDeadlineSeconds",
    "serviceName",
    "volumeClaimTemplates",
    "podManagementPolicy",
    "updateStrategy",
    "partition",
    "ordinals",
    "data",
    "binaryData",
    "stringData",
    "immutable",
    "hard",
    "scopes",
    "scopeSelector",
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
    "subsets",
    "addresses",
    "notReadyAddresses",
    "ip",
    "endpoints",
    "addressType",
    "conditions",
    "ready",
    "reason",
    "message",
    "involvedObject",
    "count",
    "firstTimestamp",
    "lastTimestamp",
    "eventTime",
    "series",
    "source",
    "reportingComponent",
    "holderIdentity",
    "leaseDurationSeconds",
    "request",
    "signerName",
    "usages",
    "expirationSeconds",
    "podCIDR",
    "podCIDRs",
    "taints",
    "unschedulable",
    "capacity",
    "allocatable",
    "containerStatuses",
    "initContainerStatuses",
    "restartCount",
    "state",
    "waiting",
    "terminated",
    "exitCode",
    "signal",
    "phase",
    "podIP",
    "podIPs",
    "hostIP",
    "startTime",
    "completionTime",
    "active",
    "lastScheduleTime",
    "readyReplicas",
    "availableReplicas",
    "loadBalancer",
    "ingress",
    "revision",
    "apiVersion",
    "kind",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$deleteFromPrimitiveList/finalizers",
];

/// Numbers at and around every boundary a Go type or a validator may have.
pub fn interesting_number(rng: &mut Rng) -> Value {
    match rng.below(24) {
        0 => json!(i64::MIN),
        1 => json!(i64::MAX),
        2 => json!(u64::MAX),
        3 => json!(i32::MAX),
        4 => json!(i64::from(i32::MAX) + 1),
        5 => json!(i32::MIN),
        6 => json!(i64::from(i32::MIN) - 1),
        7 => json!(-1),
        8 => json!(0),
        9 => json!(1),
        10 => json!(65535),
        11 => json!(65536),
        12 => json!(1.5),
        13 => json!(-0.0),
        14 => json!(1e308),
        15 => json!(-1e308),
        16 => json!(5e-324),
        17 => json!(2.0),
        18 => json!(9_007_199_254_740_993_i64),
        19 => json!(1e19),
        20 => json!(86_400 * 365 * 10_000_i64),
        21 => json!(-62_135_596_800_i64),
        22 => json!(100_001),
        _ => json!((rng.next_u64() as i64) >> rng.below(64)),
    }
}

/// A string: a dictionary word, a random one over a nasty alphabet, or a huge one.
pub fn interesting_string(rng: &mut Rng) -> String {
    const ALPHABET: &[char] = &[
        'a', 'z', 'A', 'Z', '0', '9', '-', '_', '.', '/', ':', '@', '%', '=', ',', '!', '(', ')',
        '<', '>', '*', '?', ' ', '\t', '\n', '\\', '"', '\'', '~', '$', 'é', 'ß', '日', '🦀',
        '\u{0}', '\u{7f}', '\u{85}', '\u{200b}', '\u{2028}', '\u{feff}', '\u{fffd}',
    ];
    match rng.below(10) {
        0..=4 => rng.pick(WORDS).to_string(),
        5..=7 => {
            let n = rng.len(80);
            (0..n).map(|_| *rng.pick(ALPHABET)).collect()
        }
        8 => {
            // Just over and far over the usual length limits (63, 253, 256, 1 MiB).
            let n = *rng.pick(&[63usize, 64, 253, 254, 256, 316, 4096, 70_000]);
            let c = *rng.pick(&['a', 'A', '-', 'é', '日']);
            std::iter::repeat_n(c, n).collect()
        }
        _ => {
            // Two words glued together, often a key or an address with a twist.
            let sep = *rng.pick(&["", "/", ".", "-", ":", "=", ",", " "]);
            format!("{}{sep}{}", rng.pick(WORDS), rng.pick(WORDS))
        }
    }
}

/// A random JSON value of bounded size and depth.
pub fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let choice = if depth == 0 {
        rng.below(5)
    } else {
        rng.below(7)
    };
    match choice {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => interesting_number(rng),
        3 | 4 => Value::String(interesting_string(rng)),
        5 => {
            let n = rng.len(6);
            Value::Array((0..n).map(|_| random_value(rng, depth - 1)).collect())
        }
        _ => {
            let n = rng.len(6);
            let mut map = Map::new();
            for _ in 0..n {
                let key = if rng.one_in(2) {
                    rng.pick(KEYS).to_string()
                } else {
                    interesting_string(rng)
                };
                map.insert(key, random_value(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// JSON pointers of every node of `v`, root included (as `""`).
pub fn pointers(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    walk(child, format!("{at}/{}", escape(k)), out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }
    walk(v, String::new(), &mut out);
    out
}

/// RFC 6901 escaping of one reference token.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Splits a pointer into its parent pointer and last (escaped) token.
fn split_last(pointer: &str) -> Option<(&str, &str)> {
    pointer.rsplit_once('/')
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Applies one random mutation somewhere in `v`; returns a short description of it.
pub fn mutate(rng: &mut Rng, v: &mut Value) -> String {
    let all = pointers(v);
    let at = rng.pick(&all).clone();
    let donor = {
        // A subtree from elsewhere in the same object: the right shape in the wrong place.
        let p = rng.pick(&all).clone();
        v.pointer(&p).cloned().unwrap_or(Value::Null)
    };
    let Some(target) = v.pointer_mut(&at) else {
        return String::new();
    };
    let what = rng.below(16);
    match what {
        0 => *target = random_value(rng, 2),
        1 => *target = interesting_number(rng),
        2 => *target = Value::String(interesting_string(rng)),
        3 => *target = Value::Null,
        4 => {
            // Change the type while keeping the value recognisable.
            *target = match target.take() {
                Value::String(s) => s.parse::<i64>().map_or(json!([s]), Value::from),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                Value::Array(a) => a.into_iter().next().unwrap_or(json!({})),
                Value::Object(m) => Value::Array(m.into_iter().map(|(_, v)| v).collect()),
                Value::Null => json!(false),
            }
        }
        5 => {
            // Numbers: floats where integers are expected, and the integer extremes.
            *target = match target.take() {
                Value::Number(n) => match n.as_i64() {
                    Some(i) if rng.one_in(2) => {
                        Number::from_f64(i as f64 + 0.5).map_or(Value::Null, Value::Number)
                    }
                    Some(i) => json!(i.wrapping_neg()),
                    None => interesting_number(rng),
                },
                _ => interesting_number(rng),
            }
        }
        6 | 7 => {
            // Drop a field or an element.
            if let Some((parent, last)) = split_last(&at) {
                let last = unescape(last);
                match v.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.shift_remove(&last);
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            if i < items.len() {
                                items.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        8 | 9 => {
            // Add a field, unknown or known-but-misplaced.
            if let Value::Object(map) = target {
                let key = if rng.one_in(3) {
                    interesting_string(rng)
                } else {
                    rng.pick(KEYS).to_string()
                };
                let value = if rng.one_in(3) {
                    donor
                } else {
                    random_value(rng, 2)
                };
                map.insert(key, value);
            } else {
                *target = json!({ rng.pick(KEYS).to_string(): random_value(rng, 1) });
            }
        }
        10 => {
            // Arrays: duplicate, grow large, reverse, empty.
            match target {
                Value::Array(items) if !items.is_empty() => match rng.below(4) {
                    0 => {
                        let first = items[0].clone();
                        items.push(first);
                    }
                    1 => {
                        let copy = items[rng.below(items.len())].clone();
                        let n = *rng.pick(&[100usize, 1000, 5000]);
                        items.extend(std::iter::repeat_n(copy, n));
                    }
                    2 => items.reverse(),
                    _ => items.clear(),
                },
                other => *other = Value::Array(vec![other.take()]),
            }
        }
        11 => *target = donor,
        12 => {
            // Wrap in another level.
            let inner = target.take();
            *target = if rng.one_in(2) {
                json!([inner])
            } else {
                json!({ rng.pick(KEYS).to_string(): inner })
            };
        }
        13 => {
            // Strings: grow, or tweak one character.
            if let Value::String(s) = target {
                match rng.below(3) {
                    0 => s.push_str(&"x".repeat(*rng.pick(&[1usize, 63, 253, 70_000]))),
                    1 => s.insert(0, *rng.pick(&['-', '.', 'A', ' ', 'é', '\u{0}'])),
                    _ => s.push(*rng.pick(&['-', '.', 'A', ' ', '%', '/', '\n'])),
                }
            } else {
                *target = Value::String(interesting_string(rng));
            }
        }
        14 => {
            // Objects: empty them, or give every value the same odd value.
            if let Value::Object(map) = target {
                if rng.one_in(2) {
                    map.clear();
                } else {
                    let odd = random_value(rng, 1);
                    for value in map.values_mut() {
                        *value = odd.clone();
                    }
                }
            } else {
                *target = json!({});
            }
        }
        _ => *target = json!(rng.pick(WORDS)),
    }
    format!("mutation {what} at {at:?}")
}

/// Applies between one and `max` mutations.
pub fn mutate_some(rng: &mut Rng, v: &mut Value, max: usize) -> Vec<String> {
    let n = 1 + rng.below(max);
    (0..n).map(|_| mutate(rng, v)).collect()
}

/// Byte-level damage to serialized JSON: flipped, inserted, deleted or duplicated bytes.
pub fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>) {
    const TOKENS: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"",
        b"\\",
        b"null",
        b"1e999",
        b"-0",
        b"\"a\":1,",
        b"\xff",
        b"\xc3",
        b"\xed\xa0\x80",
        b"\\ud800",
        b"\\u0000",
        b" ",
        b"\t",
    ];
    for _ in 0..=rng.below(3) {
        let at = if bytes.is_empty() {
            0
        } else {
            rng.below(bytes.len())
        };
        match rng.below(5) {
            0 if !bytes.is_empty() => bytes[at] = rng.next_u64() as u8,
            1 if !bytes.is_empty() => {
                bytes.remove(at);
            }
            2 => {
                let token = *rng.pick(TOKENS);
                bytes.splice(at..at, token.iter().copied());
            }
            3 => bytes.truncate(at),
            _ => {
                // Duplicate a slice, which often repeats a key in the same object.
                let end = (at + 1 + rng.below(40)).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                bytes.splice(at..at, slice);
            }
        }
    }
}

/// A mutation that keeps the JSON type of the node it changes (strings stay strings, integers
/// stay integers, objects lose or gain keys), so that the typed decoding step usually accepts
/// the result and validation, defaulting and printing see it.
pub fn mutate_typed(rng: &mut Rng, v: &mut Value) -> String {
    let all = pointers(v);
    let at = rng.pick(&all).clone();
    // Values found under the same key elsewhere: the right type, often the wrong content.
    let last = at
        .rsplit_once('/')
        .map(|(_, k)| k.to_string())
        .unwrap_or_default();
    let siblings: Vec<Value> = all
        .iter()
        .filter(|p| p.rsplit_once('/').is_some_and(|(_, k)| k == last) && **p != at)
        .filter_map(|p| v.pointer(p).cloned())
        .collect();
    let Some(target) = v.pointer_mut(&at) else {
        return String::new();
    };
    match target {
        Value::String(s) => {
            *s = if !siblings.is_empty() && rng.one_in(4) {
                rng.pick(&siblings).as_str().unwrap_or("").to_string()
            } else {
                interesting_string(rng)
            };
        }
        Value::Number(n) => {
            let was_int = n.is_i64() || n.is_u64();
            *target = loop {
                let candidate = interesting_number(rng);
                if !was_int || candidate.is_i64() || candidate.is_u64() {
                    break candidate;
                }
            };
        }
        Value::Bool(b) => *b = !*b,
        Value::Array(items) => {
            if items.is_empty() {
                if let Some(Value::Array(other)) = siblings.first() {
                    items.extend(other.iter().cloned());
                }
            } else {
                match rng.below(6) {
                    0 => {
                        items.remove(rng.below(items.len()));
                    }
                    1 => {
                        let copy = items[rng.below(items.len())].clone();
                        items.push(copy);
                    }
                    2 => items.reverse(),
                    3 => items.clear(),
                    4 => {
                        let copy = items[rng.below(items.len())].clone();
                        let n = *rng.pick(&[20usize, 200, 2000]);
                        items.extend(std::iter::repeat_n(copy, n));
                    }
                    _ => {
                        let i = rng.below(items.len());
                        mutate_typed(rng, &mut items[i]);
                    }
                }
            }
        }
        Value::Object(map) => match rng.below(4) {
            0 if !map.is_empty() => {
                let i = rng.below(map.len());
                if let Some(key) = map.keys().nth(i).cloned() {
                    map.shift_remove(&key);
                }
            }
            1 if !siblings.is_empty() => *target = rng.pick(&siblings).clone(),
            2 => {
                // A key that belongs in some Kubernetes object, with a value of a plausible type.
                let key = rng.pick(KEYS).to_string();
                let value = match rng.below(4) {
                    0 => Value::String(interesting_string(rng)),
                    1 => interesting_number(rng),
                    2 => Value::Bool(rng.one_in(2)),
                    _ => random_value(rng, 1),
                };
                map.insert(key, value);
            }
            _ => {
                // Label-like maps: a new key with a string value.
                map.insert(
                    interesting_string(rng),
                    Value::String(interesting_string(rng)),
                );
            }
        },
        Value::Null => {}
    }
    format!("typed mutation at {at:?}")
}
