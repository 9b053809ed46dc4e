//! The config's shape. Every struct refuses unknown fields: a misspelt key is an error, not a
//! silently ignored setting.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineConfig {
    /// [`crate::VERSION`].
    pub version: String,
    /// The machine's hostname and, lowercased, its Node name (RFC 1123 label).
    pub hostname: String,
    pub role: Role,
    /// Console log filter (`info`, `debug`, `node_os=debug,info`); the kernel command line's
    /// `nodeos.log=` wins over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(default)]
    pub network: Network,
    pub cluster: Cluster,
    /// Required for [`Role::Control`], refused for [`Role::Worker`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the control plane (API server, store, scheduler, controllers) in-process; also a
    /// node (kubelet and runtime) that takes workloads only when `control.allowWorkloads`.
    Control,
    /// Runs the kubelet, runtime and routing; joins with the cluster's bootstrap token.
    Worker,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Network {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Resolvers for the node itself (DHCP-provided ones are added).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Interface {
    /// Kernel name (`eth0`, `ens3`); or give `mac`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Hardware address, `52:54:00:12:34:56`: survives renaming and probe order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Ask a DHCPv4 server for an address, routes and resolvers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dhcp: bool,
    /// Static addresses in CIDR form, `10.10.0.2/24`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Destination in CIDR form; `0.0.0.0/0` for the default route.
    pub to: String,
    pub via: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    /// The API server every node talks to, `https://10.10.0.2:6443`.
    pub endpoint: String,
    /// The bootstrap token nodes join with, `[a-z0-9]{6}.[a-z0-9]{16}`. The control machine
    /// creates it at first start, so the installer can hand it to workers beforehand.
    pub token: String,
    /// kubeadm's CA pin: `sha256:` and the hex SHA-256 of the CA's SubjectPublicKeyInfo.
    pub ca_hash: String,
    /// Range node pod CIDRs are cut from.
    #[serde(default = "default_pod_cidr", rename = "podCIDR")]
    pub pod_cidr: String,
    /// Range Service cluster IPs come from.
    #[serde(default = "default_service_cidr", rename = "serviceCIDR")]
    pub service_cidr: String,
    /// Registries reached over plain HTTP (`HOST:PORT`), as a CI cluster's local registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insecure_registries: Vec<String>,
}

fn default_pod_cidr() -> String {
    "10.244.0.0/16".into()
}

fn default_service_cidr() -> String {
    "10.96.0.0/12".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Control {
    /// The cluster CA certificate (PEM). Its key signs every certificate of the cluster.
    pub ca_cert: String,
    /// The CA's private key (PEM). Never logged.
    pub ca_key: String,
    /// Where the API server listens.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Extra names and addresses for the API server's certificate (the machine's own
    /// addresses and `127.0.0.1` are always in it), e.g. a load balancer in front of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cert_sans: Vec<String>,
    /// Also run workloads here (no `node-role.kubernetes.io/control-plane:NoSchedule` taint).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_workloads: bool,
}

fn default_listen() -> String {
    "0.0.0.0:6443".into()
}
