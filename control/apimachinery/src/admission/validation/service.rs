//! Services, Endpoints and EndpointSlices.

use std::collections::HashSet;

use serde_json::Value;

use super::pod::{enumeration, ip, port_num_or_name, protocol};
use super::{immutable, labels, NameRule, Path, Validator};
use crate::admission::field::FieldError;
use crate::admission::json::{arr_of, has, int_of, str_of};
use crate::admission::names::{
    is_cidr, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_port_num,
    name_is_dns_subdomain,
};

/// The node port range of a default cluster (`--service-node-port-range`).
pub(crate) const NODE_PORT_RANGE: (i64, i64) = (30000, 32767);

fn cluster_ips(spec: &Value) -> Vec<&str> {
    let ips: Vec<&str> = arr_of(spec, "clusterIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if ips.is_empty() && !str_of(spec, "clusterIP").is_empty() {
        vec![str_of(spec, "clusterIP")]
    } else {
        ips
    }
}

/// Kubernetes calls a Service headless by its cluster IPs alone, whatever its type.
fn is_headless(spec: &Value) -> bool {
    cluster_ips(spec) == ["None"]
}

pub(super) fn service(v: &Validator, errs: &mut Vec<FieldError>) {
    if let Some(old) = v.old_spec() {
        service_update(v.spec(), old, errs);
    }
    v.meta(NameRule::Dns1035, errs);
    let spec = v.spec();
    let path = Path::new("spec");
    let ty = str_of(spec, "type");
    let ports = arr_of(spec, "ports");
    let headless = is_headless(spec);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required(path.child("ports"), ""));
    }
    match ty {
        "LoadBalancer" | "NodePort" if headless => {
            errs.push(FieldError::invalid(
                path.child("clusterIPs").index(0),
                "None",
                format!("may not be set to 'None' for {ty} services"),
            ));
        }
        "ExternalName" => {
            if !cluster_ips(spec).is_empty() {
                errs.push(FieldError::forbidden(
                    path.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if !arr_of(spec, "ipFamilies").is_empty() {
                errs.push(FieldError::forbidden(
                    path.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if has(spec, "ipFamilyPolicy") {
                errs.push(FieldError::forbidden(
                    path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let name = str_of(spec, "externalName");
            let cname = name.strip_suffix('.').unwrap_or(name);
            if cname.is_empty() {
                errs.push(FieldError::required(path.child("externalName"), ""));
            } else {
                for msg in is_dns1123_subdomain(cname) {
                    errs.push(FieldError::invalid(path.child("externalName"), cname, msg));
                }
            }
        }
        _ => {}
    }
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        service_port(
            port,
            ports.len() > 1,
            &mut names,
            &path.child("ports").index(i),
            errs,
        );
    }
    if spec.get("selector").is_some_and(Value::is_object) {
        labels(spec.get("selector"), &path.child("selector"), errs);
    }
    let affinity = str_of(spec, "sessionAffinity");
    enumeration(
        affinity,
        &path.child("sessionAffinity"),
        &["ClientIP", "None"],
        errs,
    );
    if affinity == "ClientIP" {
        let config = &spec["sessionAffinityConfig"];
        let cp = path.child("sessionAffinityConfig");
        let detail = "when session affinity type is ClientIP";
        if !config.is_object() {
            errs.push(FieldError::required(cp, detail));
        } else if !config["clientIP"].is_object() {
            errs.push(FieldError::required(cp.child("clientIP"), detail));
        } else {
            match int_of(&config["clientIP"], "timeoutSeconds") {
                None => errs.push(FieldError::required(
                    cp.child("clientIP").child("timeoutSeconds"),
                    detail,
                )),
                Some(t) if t <= 0 || t > 86400 => errs.push(FieldError::invalid(
                    cp.child("clientIP").child("timeoutSeconds"),
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                Some(_) => {}
            }
        }
    } else if affinity == "None" && has(spec, "sessionAffinityConfig") {
        errs.push(FieldError::forbidden(
            path.child("sessionAffinityConfig"),
            "must not be set when session affinity is None",
        ));
    }
    cluster_ip_fields(spec, &path, errs);
    for (i, addr) in arr_of(spec, "externalIPs").iter().enumerate() {
        let addr = addr.as_str().unwrap_or("");
        let ip_path = path.child("externalIPs").index(i);
        let before = errs.len();
        ip(addr, &ip_path, errs);
        if errs.len() == before {
            non_special_ip(addr, &ip_path, errs);
        }
    }
    enumeration(
        ty,
        &path.child("type"),
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        errs,
    );
    let (lo, hi) = NODE_PORT_RANGE;
    for (i, port) in ports.iter().enumerate() {
        let np = int_of(port, "nodePort").unwrap_or(0);
        if np == 0 {
            continue;
        }
        let np_path = path.child("ports").index(i).child("nodePort");
        if ty == "ClusterIP" {
            errs.push(FieldError::forbidden(
                np_path,
                "may not be used when `type` is 'ClusterIP'",
            ));
        } else if !(lo..=hi).contains(&np) {
            errs.push(FieldError::invalid(
                np_path,
                np,
                format!("provided port is not in the valid range. The range of valid ports is {lo}-{hi}"),
            ));
        }
    }
    let mut node_ports = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let np = int_of(port, "nodePort").unwrap_or(0);
        if np != 0 && !node_ports.insert((str_of(port, "protocol"), np)) {
            errs.push(FieldError::duplicate(
                path.child("ports").index(i).child("nodePort"),
                np,
            ));
        }
    }
    let mut port_keys = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let key = (str_of(port, "protocol"), int_of(port, "port").unwrap_or(0));
        if !port_keys.insert(key) {
            errs.push(
                FieldError::duplicate(path.child("ports").index(i), Value::Null)
                    .with_repr(format!("core.ServicePort{{Name:\"\", Protocol:\"{}\", AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}", key.0, key.1)),
            );
        }
    }
    let ranges = arr_of(spec, "loadBalancerSourceRanges");
    if !ranges.is_empty() {
        let rp = path.child("LoadBalancerSourceRanges");
        if ty != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                rp.clone(),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            let r = r.as_str().unwrap_or("").trim();
            if !is_cidr(r) {
                errs.push(FieldError::invalid(
                    rp.index(i),
                    r,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
    if has(spec, "allocateLoadBalancerNodePorts") && ty != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            path.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if ty == "LoadBalancer" && !has(spec, "allocateLoadBalancerNodePorts") {
        errs.push(FieldError::required("allocateLoadBalancerNodePorts", ""));
    }
    let externally_accessible = matches!(ty, "LoadBalancer" | "NodePort")
        || (ty == "ClusterIP" && !arr_of(spec, "externalIPs").is_empty());
    let etp = str_of(spec, "externalTrafficPolicy");
    if !externally_accessible {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                path.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else {
        enumeration(
            etp,
            &path.child("externalTrafficPolicy"),
            &["Cluster", "Local"],
            errs,
        );
    }
    let needs_health_check = ty == "LoadBalancer" && etp == "Local";
    let hc = int_of(spec, "healthCheckNodePort").unwrap_or(0);
    if !needs_health_check && hc != 0 {
        errs.push(FieldError::invalid(
            path.child("healthCheckNodePort"),
            hc,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    } else if needs_health_check && hc != 0 {
        for msg in is_valid_port_num(hc) {
            errs.push(FieldError::invalid(
                path.child("healthCheckNodePort"),
                hc,
                msg,
            ));
        }
    }
    match spec.get("internalTrafficPolicy").and_then(Value::as_str) {
        None => {
            if matches!(ty, "ClusterIP" | "NodePort" | "LoadBalancer") {
                errs.push(FieldError::required(
                    path.child("internalTrafficPolicy"),
                    "",
                ));
            }
        }
        Some(p) if p != "Cluster" && p != "Local" => {
            errs.push(FieldError::not_supported(
                path.child("internalTrafficPolicy"),
                p,
                &["Cluster", "Local"],
            ));
        }
        Some(_) => {}
    }
    if let Some(td) = spec.get("trafficDistribution").and_then(Value::as_str) {
        if td != "PreferClose" {
            errs.push(FieldError::not_supported(
                path.child("trafficDistribution"),
                td,
                &["PreferClose"],
            ));
        }
    }
}

fn service_port(
    port: &Value,
    require_name: bool,
    names: &mut HashSet<String>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let name = str_of(port, "name");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        for msg in is_dns1123_label(name) {
            errs.push(FieldError::invalid(path.child("name"), name, msg));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(path.child("name"), name));
        }
    }
    let number = int_of(port, "port").unwrap_or(0);
    for msg in is_valid_port_num(number) {
        errs.push(FieldError::invalid(path.child("port"), number, msg));
    }
    protocol(str_of(port, "protocol"), &path.child("protocol"), errs);
    port_num_or_name(port.get("targetPort"), &path.child("targetPort"), errs);
    if let Some(ap) = port.get("appProtocol").and_then(Value::as_str) {
        for msg in is_qualified_name(ap) {
            errs.push(FieldError::invalid(path.child("appProtocol"), ap, msg));
        }
    }
}

/// The cluster IP, IP family and family policy fields (single-stack view).
fn cluster_ip_fields(spec: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if str_of(spec, "type") == "ExternalName" {
        return;
    }
    let ips: Vec<&str> = arr_of(spec, "clusterIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let ips_path = path.child("clusterIPs");
    let mut bad = false;
    if !ips.is_empty() && str_of(spec, "clusterIP") != ips[0] {
        errs.push(FieldError::invalid(
            ips_path.clone(),
            Value::from(ips.clone()),
            "first value must match `clusterIP`",
        ));
        bad = true;
    }
    if let Some(policy) = spec.get("ipFamilyPolicy").and_then(Value::as_str) {
        let allowed = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !allowed.contains(&policy) {
            errs.push(FieldError::not_supported(
                path.child("ipFamilyPolicy"),
                policy,
                &allowed,
            ));
        }
    }
    for (i, addr) in ips.iter().enumerate() {
        if i == 0 && *addr == "None" {
            if ips.len() > 1 {
                bad = true;
                errs.push(FieldError::invalid(
                    ips_path.clone(),
                    Value::from(ips.clone()),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let before = errs.len();
        ip(addr, &ips_path.index(i), errs);
        bad |= errs.len() != before;
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            ips_path.clone(),
            Value::from(ips.clone()),
            "may only hold up to 2 values",
        ));
    }
    if bad {
        return;
    }
    if ips.len() == 2 && ips[0].contains(':') == ips[1].contains(':') {
        errs.push(FieldError::invalid(
            ips_path.clone(),
            Value::from(ips.clone()),
            "may specify no more than one IP for each IP family",
        ));
    }
    let families = arr_of(spec, "ipFamilies");
    let mut seen = HashSet::new();
    for (i, f) in families.iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        if f != "IPv4" && f != "IPv6" {
            errs.push(FieldError::not_supported(
                path.child("ipFamilies").index(i),
                f,
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(f) {
            errs.push(FieldError::duplicate(path.child("ipFamilies").index(i), f));
        }
    }
    if families.len() > 2 {
        errs.push(FieldError::invalid(
            path.child("ipFamilies"),
            Value::Array(families.to_vec()),
            "may only hold up to 2 values",
        ));
    }
}

/// Cluster IPs never change once allocated (except moving to or from ExternalName).
fn service_update(spec: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    if str_of(spec, "type") == "ExternalName" || str_of(old, "type") == "ExternalName" {
        return;
    }
    if is_headless(spec) && is_headless(old) {
        return;
    }
    let new_ips = cluster_ips(spec);
    let old_ips = cluster_ips(old);
    let path = Path::new("spec").child("clusterIPs");
    let shown = Value::from(new_ips.clone());
    if new_ips.len() == old_ips.len() {
        for (i, (n, o)) in new_ips.iter().zip(&old_ips).enumerate() {
            if n != o {
                errs.push(FieldError::invalid(
                    path.index(i),
                    shown.clone(),
                    "may not change once set",
                ));
            }
        }
    } else if new_ips.len() < old_ips.len() {
        if new_ips.is_empty() {
            errs.push(FieldError::invalid(
                path.index(0),
                shown.clone(),
                "primary clusterIP can not be unset",
            ));
        } else if new_ips[0] != old_ips[0] {
            errs.push(FieldError::invalid(
                path.index(0),
                shown.clone(),
                "may not change once set",
            ));
        }
    } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
        errs.push(FieldError::invalid(
            path.index(0),
            shown,
            "may not change once set",
        ));
    }
    let needs_hc = |s: &Value| {
        str_of(s, "type") == "LoadBalancer" && str_of(s, "externalTrafficPolicy") == "Local"
    };
    if needs_hc(spec)
        && needs_hc(old)
        && int_of(spec, "healthCheckNodePort") != int_of(old, "healthCheckNodePort")
    {
        errs.push(FieldError::forbidden(
            Path::new("spec").child("healthCheckNodePort"),
            "field is immutable",
        ));
    }
}

/// Unspecified, loopback and link-local addresses make no sense as endpoints or external IPs.
pub(crate) fn non_special_ip(addr: &str, path: &Path, errs: &mut Vec<FieldError>) {
    let Ok(parsed) = addr.parse::<std::net::IpAddr>() else {
        errs.push(FieldError::invalid(
            path.clone(),
            addr,
            "must be a valid IP address",
        ));
        return;
    };
    let (unspecified, loopback, link_local, link_local_multicast) = match parsed {
        std::net::IpAddr::V4(a) => (
            a.is_unspecified(),
            a.is_loopback(),
            a.is_link_local(),
            a.octets()[..3] == [224, 0, 0],
        ),
        std::net::IpAddr::V6(a) => {
            let seg = a.segments();
            (
                a.is_unspecified(),
                a.is_loopback(),
                seg[0] & 0xffc0 == 0xfe80,
                seg[0] & 0xff0f == 0xff02,
            )
        }
    };
    if unspecified {
        errs.push(FieldError::invalid(
            path.clone(),
            addr,
            format!("may not be unspecified ({addr})"),
        ));
    }
    if loopback {
        errs.push(FieldError::invalid(
            path.clone(),
            addr,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    if link_local {
        errs.push(FieldError::invalid(
            path.clone(),
            addr,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if link_local_multicast {
        errs.push(FieldError::invalid(
            path.clone(),
            addr,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

pub(super) fn endpoints(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let path = Path::new("subsets");
    for (i, ss) in arr_of(v.obj, "subsets").iter().enumerate() {
        let p = path.index(i);
        if arr_of(ss, "addresses").is_empty() && arr_of(ss, "notReadyAddresses").is_empty() {
            errs.push(FieldError::required(
                p.clone(),
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for list in ["addresses", "notReadyAddresses"] {
            for (j, addr) in arr_of(ss, list).iter().enumerate() {
                let ap = p.child(list).index(j);
                let a = str_of(addr, "ip");
                ip(a, &ap.child("ip"), errs);
                let hostname = str_of(addr, "hostname");
                if !hostname.is_empty() {
                    for msg in is_dns1123_label(hostname) {
                        errs.push(FieldError::invalid(ap.child("hostname"), hostname, msg));
                    }
                }
                if let Some(node) = addr.get("nodeName").and_then(Value::as_str) {
                    for msg in name_is_dns_subdomain(node, false) {
                        errs.push(FieldError::invalid(ap.child("nodeName"), node, msg));
                    }
                }
                non_special_ip(a, &ap.child("ip"), errs);
            }
        }
        let ports = arr_of(ss, "ports");
        for (j, port) in ports.iter().enumerate() {
            let pp = p.child("ports").index(j);
            let name = str_of(port, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(pp.child("name"), ""));
            } else if !name.is_empty() {
                for msg in is_dns1123_label(name) {
                    errs.push(FieldError::invalid(pp.child("name"), name, msg));
                }
            }
            let number = int_of(port, "port").unwrap_or(0);
            for msg in is_valid_port_num(number) {
                errs.push(FieldError::invalid(pp.child("port"), number, msg));
            }
            protocol(str_of(port, "protocol"), &pp.child("protocol"), errs);
            if let Some(ap) = port.get("appProtocol").and_then(Value::as_str) {
                for msg in is_qualified_name(ap) {
                    errs.push(FieldError::invalid(pp.child("appProtocol"), ap, msg));
                }
            }
        }
    }
}

pub(super) fn endpoint_slice(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let obj = v.obj;
    let address_type = str_of(obj, "addressType");
    let at_path = Path::new("addressType");
    if address_type.is_empty() {
        errs.push(FieldError::required(at_path.clone(), ""));
    } else if !matches!(address_type, "FQDN" | "IPv4" | "IPv6") {
        errs.push(FieldError::not_supported(
            at_path.clone(),
            address_type,
            &["FQDN", "IPv4", "IPv6"],
        ));
    }
    let endpoints = arr_of(obj, "endpoints");
    let ep_path = Path::new("endpoints");
    if endpoints.len() > 1000 {
        errs.push(FieldError::too_many(ep_path.clone(), endpoints.len(), 1000));
    } else {
        for (i, ep) in endpoints.iter().enumerate() {
            let p = ep_path.index(i);
            let addresses = arr_of(ep, "addresses");
            let ap = p.child("addresses");
            if addresses.is_empty() {
                errs.push(FieldError::required(
                    ap.clone(),
                    "must contain at least 1 address",
                ));
            } else if addresses.len() > 100 {
                errs.push(FieldError::too_many(ap.clone(), addresses.len(), 100));
            }
            for (j, a) in addresses.iter().enumerate() {
                let a = a.as_str().unwrap_or("");
                let aip = ap.index(j);
                match address_type {
                    "IPv4" | "IPv6" => {
                        let ok = match a.parse::<std::net::IpAddr>() {
                            Ok(std::net::IpAddr::V4(_)) => address_type == "IPv4",
                            Ok(std::net::IpAddr::V6(_)) => address_type == "IPv6",
                            Err(_) => false,
                        };
                        if ok {
                            non_special_ip(a, &aip, errs);
                        } else {
                            errs.push(FieldError::invalid(
                                aip,
                                a,
                                format!("must be a valid {address_type} address"),
                            ));
                        }
                    }
                    "FQDN" => {
                        let name = a.strip_suffix('.').unwrap_or(a);
                        if name.is_empty() {
                            errs.push(FieldError::required(aip, ""));
                        } else if let Some(msg) = is_dns1123_subdomain(name).into_iter().next() {
                            errs.push(FieldError::invalid(aip, name, msg));
                        } else if !name.contains('.') {
                            errs.push(FieldError::invalid(
                                aip,
                                name,
                                "should be a domain with at least two segments separated by dots",
                            ));
                        }
                    }
                    _ => {}
                }
            }
            if let Some(node) = ep.get("nodeName").and_then(Value::as_str) {
                for msg in name_is_dns_subdomain(node, false) {
                    errs.push(FieldError::invalid(p.child("nodeName"), node, msg));
                }
            }
            let topology = p.child("deprecatedTopology");
            if ep
                .get("deprecatedTopology")
                .and_then(Value::as_object)
                .is_some_and(|m| m.len() > 16)
            {
                let n = ep["deprecatedTopology"].as_object().map_or(0, |m| m.len());
                errs.push(FieldError::too_many(topology.clone(), n, 16));
            }
            labels(ep.get("deprecatedTopology"), &topology, errs);
            for key in ["zone", "hostname"] {
                if let Some(value) = ep.get(key).and_then(Value::as_str) {
                    for msg in is_dns1123_label(value) {
                        errs.push(FieldError::invalid(p.child(key), value, msg));
                    }
                }
            }
        }
    }
    let ports = arr_of(obj, "ports");
    let ports_path = Path::new("ports");
    if ports.len() > 20000 {
        errs.push(FieldError::too_many(ports_path, ports.len(), 20000));
    } else {
        let mut names = HashSet::new();
        for (i, port) in ports.iter().enumerate() {
            let p = ports_path.index(i);
            let name = str_of(port, "name");
            if !name.is_empty() {
                for msg in is_dns1123_label(name) {
                    errs.push(FieldError::invalid(p.child("name"), name, msg));
                }
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(p.child("name"), name));
            }
            match port.get("protocol").and_then(Value::as_str) {
                None => errs.push(FieldError::required(p.child("protocol"), "")),
                Some(proto) if !matches!(proto, "SCTP" | "TCP" | "UDP") => {
                    errs.push(FieldError::not_supported(
                        p.child("protocol"),
                        proto,
                        &["SCTP", "TCP", "UDP"],
                    ));
                }
                Some(_) => {}
            }
            if let Some(ap) = port.get("appProtocol").and_then(Value::as_str) {
                for msg in is_qualified_name(ap) {
                    errs.push(FieldError::invalid(p.child("appProtocol"), ap, msg));
                }
            }
        }
    }
    if let Some(old) = v.old {
        immutable(
            obj.get("addressType"),
            old.get("addressType"),
            &at_path,
            errs,
        );
    }
}
