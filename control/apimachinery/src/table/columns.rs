//! Column definitions per kind: names, types and priorities as Kubernetes v1.32 declares them
//! (the descriptions are our own short wording).

use super::Column;

const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: "Name of the object, unique within its namespace.",
    priority: 0,
};
const AGE: Column = col("Age", "string", "Time since the object was created.");
const CONTAINERS: Column = wide(
    "Containers",
    "string",
    "Names of the containers in the pod template.",
);
const IMAGES: Column = wide(
    "Images",
    "string",
    "Images of the containers in the pod template.",
);
const SELECTOR: Column = wide(
    "Selector",
    "string",
    "Label selector for the pods this object manages.",
);

const POD: &[Column] = &[
    NAME,
    col("Ready", "string", "Ready containers out of all containers."),
    col(
        "Status",
        "string",
        "Summary of the pod's and its containers' state.",
    ),
    col(
        "Restarts",
        "string",
        "Container restarts, with the time since the last one.",
    ),
    AGE,
    wide("IP", "string", "The pod's primary IP address."),
    wide("Node", "string", "Node the pod is bound to."),
    wide(
        "Nominated Node",
        "string",
        "Node the scheduler nominated after preemption.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "Readiness gate conditions that are true, out of all gates.",
    ),
];

const NAMESPACE: &[Column] = &[
    NAME,
    col("Status", "string", "Phase of the namespace."),
    AGE,
];

const SERVICE: &[Column] = &[
    NAME,
    col("Type", "string", "How the service is exposed."),
    col(
        "Cluster-IP",
        "string",
        "Virtual IP of the service inside the cluster.",
    ),
    col(
        "External-IP",
        "string",
        "Addresses the service is reachable at from outside.",
    ),
    col(
        "Port(s)",
        "string",
        "Service ports, with node ports where allocated.",
    ),
    AGE,
    wide(
        "Selector",
        "string",
        "Labels of the pods traffic is routed to.",
    ),
];

const ENDPOINTS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "Ready addresses and ports, abbreviated past three.",
    ),
    AGE,
];

const CONFIG_MAP: &[Column] = &[
    NAME,
    col("Data", "string", "Number of data and binaryData entries."),
    AGE,
];

const SECRET: &[Column] = &[
    NAME,
    col("Type", "string", "Type of the secret."),
    col("Data", "string", "Number of data entries."),
    AGE,
];

const SERVICE_ACCOUNT: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Number of secrets listed on the account.",
    ),
    AGE,
];

const NODE: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "Readiness of the node and whether it accepts new pods.",
    ),
    col("Roles", "string", "Roles from the node's role labels."),
    AGE,
    col("Version", "string", "Kubelet version."),
    wide(
        "Internal-IP",
        "string",
        "First internal address of the node.",
    ),
    wide(
        "External-IP",
        "string",
        "First external address of the node.",
    ),
    wide(
        "OS-Image",
        "string",
        "Operating system image reported by the node.",
    ),
    wide(
        "Kernel-Version",
        "string",
        "Kernel version reported by the node.",
    ),
    wide(
        "Container-Runtime",
        "string",
        "Container runtime and version.",
    ),
];

const EVENT: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "Time since the event was last observed.",
    ),
    col("Type", "string", "Normal or Warning."),
    col("Reason", "string", "Short machine-readable reason."),
    col("Object", "string", "The object the event is about."),
    wide(
        "Subobject",
        "string",
        "Field path within the object, such as a container.",
    ),
    wide(
        "Source",
        "string",
        "Component (and host) that reported the event.",
    ),
    col("Message", "string", "Human-readable description."),
    wide(
        "First Seen",
        "string",
        "Time since the event was first observed.",
    ),
    wide("Count", "string", "Number of times the event occurred."),
    Column {
        priority: 1,
        ..NAME
    },
];

const REPLICAS: &[Column] = &[
    NAME,
    col("Desired", "integer", "Number of replicas requested."),
    col("Current", "integer", "Number of replicas that exist."),
    col("Ready", "integer", "Number of replicas that are ready."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const RESOURCE_QUOTA: &[Column] = &[
    NAME,
    AGE,
    col(
        "Request",
        "string",
        "Used and hard amounts of the non-limit resources.",
    ),
    col(
        "Limit",
        "string",
        "Used and hard amounts of the limits.* resources.",
    ),
];

/// What kube-apiserver's generic table convertor prints for kinds without a printer.
const GENERIC: &[Column] = &[
    NAME,
    col("Created At", "date", "Creation time of the object."),
];

const DEPLOYMENT: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "Ready replicas out of the desired replicas.",
    ),
    col(
        "Up-to-date",
        "string",
        "Replicas running the latest pod template.",
    ),
    col("Available", "string", "Replicas available to serve."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const STATEFUL_SET: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "Ready replicas out of the desired replicas.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
];

const DAEMON_SET: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Nodes that should run the daemon pod.",
    ),
    col(
        "Current",
        "integer",
        "Nodes running at least one daemon pod.",
    ),
    col("Ready", "integer", "Nodes whose daemon pod is ready."),
    col(
        "Up-to-date",
        "integer",
        "Nodes running the latest pod template.",
    ),
    col(
        "Available",
        "integer",
        "Nodes whose daemon pod is available.",
    ),
    col(
        "Node Selector",
        "string",
        "Node labels the pods are restricted to.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const CONTROLLER_REVISION: &[Column] = &[
    NAME,
    col(
        "Controller",
        "string",
        "The object that owns this revision.",
    ),
    col("Revision", "string", "Revision number."),
    AGE,
];

const JOB: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "Complete, Failed, Running, Suspended or Terminating.",
    ),
    col(
        "Completions",
        "string",
        "Succeeded pods out of the completions needed.",
    ),
    col(
        "Duration",
        "string",
        "Time the job has run or took to finish.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const CRON_JOB: &[Column] = &[
    NAME,
    col("Schedule", "string", "Cron schedule."),
    col("Timezone", "string", "Time zone of the schedule."),
    col("Suspend", "boolean", "Whether new runs are suspended."),
    col("Active", "integer", "Number of running jobs."),
    col(
        "Last Schedule",
        "string",
        "Time since a job was last scheduled.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const LEASE: &[Column] = &[
    NAME,
    col("Holder", "string", "Identity of the current holder."),
    AGE,
];

const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col("AddressType", "string", "IPv4, IPv6 or FQDN."),
    col("Ports", "string", "Ports, abbreviated past three."),
    col(
        "Endpoints",
        "string",
        "Endpoint addresses, abbreviated past three.",
    ),
    AGE,
];

const CERTIFICATE_SIGNING_REQUEST: &[Column] = &[
    NAME,
    AGE,
    col(
        "SignerName",
        "string",
        "Signer asked to sign the certificate.",
    ),
    col("Requestor", "string", "User who created the request."),
    col("RequestedDuration", "string", "Validity period asked for."),
    col("Condition", "string", "Approval and issuance state."),
];

/// Kinds without a printer of their own, such as custom resources.
const FALLBACK: &[Column] = &[NAME, AGE];

/// The column definitions of `kind`, in cell order.
pub fn columns(kind: &str) -> Vec<Column> {
    column_slice(kind).to_vec()
}

fn column_slice(kind: &str) -> &'static [Column] {
    match kind {
        "Pod" => POD,
        "Namespace" => NAMESPACE,
        "Service" => SERVICE,
        "Endpoints" => ENDPOINTS,
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Node" => NODE,
        "Event" => EVENT,
        "ReplicationController" | "ReplicaSet" => REPLICAS,
        "ResourceQuota" => RESOURCE_QUOTA,
        "LimitRange" => GENERIC,
        "Deployment" => DEPLOYMENT,
        "StatefulSet" => STATEFUL_SET,
        "DaemonSet" => DAEMON_SET,
        "ControllerRevision" => CONTROLLER_REVISION,
        "Job" => JOB,
        "CronJob" => CRON_JOB,
        "Lease" => LEASE,
        "EndpointSlice" => ENDPOINT_SLICE,
        "CertificateSigningRequest" => CERTIFICATE_SIGNING_REQUEST,
        _ => FALLBACK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(kind: &str, priority: i32) -> Vec<String> {
        columns(kind)
            .iter()
            .filter(|c| c.priority <= priority)
            .map(|c| c.name.to_uppercase())
            .collect()
    }

    #[test]
    fn pod_columns_match_kubectl_get_pods() {
        assert_eq!(
            headers("Pod", 0),
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        );
        assert_eq!(
            headers("Pod", 1)[5..],
            ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
        );
    }

    #[test]
    fn default_views_match_kubectl_for_each_kind() {
        let cases: &[(&str, &[&str])] = &[
            ("Namespace", &["NAME", "STATUS", "AGE"]),
            (
                "Service",
                &[
                    "NAME",
                    "TYPE",
                    "CLUSTER-IP",
                    "EXTERNAL-IP",
                    "PORT(S)",
                    "AGE",
                ],
            ),
            ("Node", &["NAME", "STATUS", "ROLES", "AGE", "VERSION"]),
            (
                "Deployment",
                &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            ),
            (
                "ReplicaSet",
                &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            ),
            (
                "ReplicationController",
                &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            ),
            ("StatefulSet", &["NAME", "READY", "AGE"]),
            (
                "DaemonSet",
                &[
                    "NAME",
                    "DESIRED",
                    "CURRENT",
                    "READY",
                    "UP-TO-DATE",
                    "AVAILABLE",
                    "NODE SELECTOR",
                    "AGE",
                ],
            ),
            ("Job", &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]),
            (
                "CronJob",
                &[
                    "NAME",
                    "SCHEDULE",
                    "TIMEZONE",
                    "SUSPEND",
                    "ACTIVE",
                    "LAST SCHEDULE",
                    "AGE",
                ],
            ),
            ("ConfigMap", &["NAME", "DATA", "AGE"]),
            ("Secret", &["NAME", "TYPE", "DATA", "AGE"]),
            ("ServiceAccount", &["NAME", "SECRETS", "AGE"]),
            ("Endpoints", &["NAME", "ENDPOINTS", "AGE"]),
            (
                "EndpointSlice",
                &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
            ),
            (
                "Event",
                &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
            ),
            ("Lease", &["NAME", "HOLDER", "AGE"]),
            ("ResourceQuota", &["NAME", "AGE", "REQUEST", "LIMIT"]),
            ("LimitRange", &["NAME", "CREATED AT"]),
            (
                "CertificateSigningRequest",
                &[
                    "NAME",
                    "AGE",
                    "SIGNERNAME",
                    "REQUESTOR",
                    "REQUESTEDDURATION",
                    "CONDITION",
                ],
            ),
            (
                "ControllerRevision",
                &["NAME", "CONTROLLER", "REVISION", "AGE"],
            ),
            ("SomethingElse", &["NAME", "AGE"]),
        ];
        for (kind, expected) in cases {
            assert_eq!(headers(kind, 0), *expected, "{kind}");
        }
    }

    #[test]
    fn wide_views_add_the_priority_one_columns() {
        assert_eq!(headers("Service", 1).last().unwrap(), "SELECTOR");
        assert_eq!(
            headers("Node", 1)[5..],
            [
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME"
            ]
        );
        assert_eq!(
            headers("Deployment", 1)[5..],
            ["CONTAINERS", "IMAGES", "SELECTOR"]
        );
        assert_eq!(
            headers("Event", 1),
            [
                "LAST SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "SUBOBJECT",
                "SOURCE",
                "MESSAGE",
                "FIRST SEEN",
                "COUNT",
                "NAME"
            ]
        );
    }

    #[test]
    fn only_name_columns_have_the_name_format() {
        for kind in ["Pod", "Event", "LimitRange", "Job"] {
            for column in columns(kind) {
                assert_eq!(
                    column.format == "name",
                    column.name == "Name",
                    "{kind} {}",
                    column.name
                );
            }
        }
    }
}
