//! The decisions behind node certificates: which CertificateSigningRequests the approver
//! approves on its own and which ones the signer signs, for the two signers of kubelets:
//! `kubernetes.io/kube-apiserver-client-kubelet` (client certificates, kube-controller-manager's
//! csrapproving) and `kubernetes.io/kubelet-serving` (the kubelet's HTTPS certificate). Pure
//! functions over the CSR (and, for serving requests, the Node) objects; the loops in
//! `loops/csr.rs` do the IO.
//!
//! Kubernetes itself never auto-approves serving requests, because a node writes its own
//! `status.addresses`; this approver does when the names match what the requesting node
//! reports, as the kubelet-csr-approver projects do, so that the API server can verify every
//! kubelet it connects to against the cluster CA.

use std::net::IpAddr;

use base64::Engine;
use serde_json::Value;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::pki::SubjectAltNames;

/// The signer of kubelets' client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer of kubelets' serving certificates.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// User name prefix of nodes.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group of nodes.
pub const NODES_GROUP: &str = "system:nodes";
/// Usages a kubelet client certificate may carry; `client auth` is required.
pub const ALLOWED_USAGES: &[&str] = &["digital signature", "key encipherment", "client auth"];
/// Usages a kubelet serving certificate may carry: Kubernetes accepts exactly these three, or
/// the same without `key encipherment` (which only RSA keys use).
pub const SERVING_USAGES: &[&str] = &["digital signature", "key encipherment", "server auth"];
/// Usages every kubelet serving request must name.
pub const SERVING_REQUIRED_USAGES: &[&str] = &["digital signature", "server auth"];
/// Validity when the request names none (kube-controller-manager's `--cluster-signing-duration`).
pub const DEFAULT_VALIDITY_SECS: i64 = 365 * 24 * 3600;
/// The shortest validity the API accepts in `expirationSeconds`.
pub const MIN_VALIDITY_SECS: i64 = 600;
/// How far back `notBefore` is set, so a node whose clock lags a little accepts the certificate.
pub const BACKDATE_SECS: i64 = 5 * 60;

/// A checked request of a node for one of the kubelet signers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRequest {
    /// The node name from `CN=system:node:<name>`.
    pub node_name: String,
    /// The DER of the certificate request, its signature verified.
    pub der: Vec<u8>,
    pub usages: Vec<String>,
    /// The DNS and IP names requested (always empty for client certificates).
    pub names: SubjectAltNames,
}

/// A parsed request before the signer-specific rules: the subject checked, every name kept.
struct Parsed {
    request: NodeRequest,
    /// Names the kubelet signers never issue (email, URI, directory and other names).
    other_names: Vec<String>,
}

/// Parses `spec.request` and `spec.usages`: a parseable request whose self-signature verifies
/// (proof of possession of the key) and whose subject is exactly
/// `CN=system:node:<name>, O=system:nodes`.
fn parse(spec: &Value) -> Result<Parsed, String> {
    let pem_bytes = base64::engine::general_purpose::STANDARD
        .decode(spec["request"].as_str().unwrap_or(""))
        .map_err(|_| "spec.request is not base64".to_string())?;
    let pem_text = String::from_utf8(pem_bytes).map_err(|_| "spec.request is not PEM")?;
    let der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem_text.as_bytes())
            .map_err(|_| "spec.request holds no CERTIFICATE REQUEST PEM block".to_string())?
    };
    rcgen::CertificateSigningRequestParams::from_der(&der)
        .map_err(|e| format!("the certificate request does not parse or verify: {e}"))?;
    let (_, parsed) =
        x509_parser::certification_request::X509CertificationRequest::from_der(der.as_ref())
            .map_err(|e| format!("the certificate request does not parse: {e}"))?;
    let subject = &parsed.certification_request_info.subject;
    let mut cns = Vec::new();
    let mut orgs = Vec::new();
    for attr in subject.iter_attributes() {
        let value = attr
            .as_str()
            .map_err(|_| "a subject attribute is not a string".to_string())?
            .to_string();
        if attr.attr_type() == &x509_parser::oid_registry::OID_X509_COMMON_NAME {
            cns.push(value);
        } else if attr.attr_type() == &x509_parser::oid_registry::OID_X509_ORGANIZATION_NAME {
            orgs.push(value);
        } else {
            return Err(format!(
                "the subject may hold only CN and O, not {}",
                attr.attr_type()
            ));
        }
    }
    if orgs != [NODES_GROUP] {
        return Err(format!(
            "the subject's organization must be exactly [{NODES_GROUP}], not {orgs:?}"
        ));
    }
    let node_name = match cns.as_slice() {
        [cn] => cn
            .strip_prefix(NODE_USER_PREFIX)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("the common name {cn:?} is not {NODE_USER_PREFIX}<name>"))?
            .to_string(),
        _ => {
            return Err(format!(
                "the subject must hold one common name, not {cns:?}"
            ))
        }
    };
    let mut names = SubjectAltNames::default();
    let mut other_names = Vec::new();
    for ext in parsed.requested_extensions().into_iter().flatten() {
        let ParsedExtension::SubjectAlternativeName(san) = ext else {
            continue;
        };
        for name in &san.general_names {
            match name {
                GeneralName::DNSName(d) => names.dns.push(d.to_string()),
                GeneralName::IPAddress(raw) => match ip_from_bytes(raw) {
                    Some(ip) => names.ips.push(ip),
                    None => other_names.push(format!("IP address of {} bytes", raw.len())),
                },
                GeneralName::RFC822Name(e) => other_names.push(format!("email {e}")),
                GeneralName::URI(u) => other_names.push(format!("URI {u}")),
                other => other_names.push(format!("{other:?}")),
            }
        }
    }
    let usages = spec["usages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Parsed {
        request: NodeRequest {
            node_name,
            der: der.as_ref().to_vec(),
            usages,
            names,
        },
        other_names,
    })
}

fn ip_from_bytes(raw: &[u8]) -> Option<IpAddr> {
    match raw.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(raw).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(raw).ok()?)),
        _ => None,
    }
}

/// Checks that a CSR spec is a well-formed kubelet client request: signer, the subject as
/// [`parse`] wants it, no subject alternative names, and usages within [`ALLOWED_USAGES`]
/// including `client auth`.
pub fn check_kubelet_client(spec: &Value) -> Result<NodeRequest, String> {
    if spec["signerName"] != KUBELET_CLIENT_SIGNER {
        return Err(format!("signerName is not {KUBELET_CLIENT_SIGNER}"));
    }
    let Parsed {
        request,
        other_names,
    } = parse(spec)?;
    if !other_names.is_empty() || request.names != SubjectAltNames::default() {
        return Err("a kubelet client certificate may not have subject alternative names".into());
    }
    if let Some(bad) = request
        .usages
        .iter()
        .find(|u| !ALLOWED_USAGES.contains(&u.as_str()))
    {
        return Err(format!(
            "usage {bad:?} is not allowed for kubelet client certificates"
        ));
    }
    if !request.usages.iter().any(|u| u == "client auth") {
        return Err("usages must include \"client auth\"".into());
    }
    Ok(request)
}

/// Checks that a CSR spec is a well-formed kubelet serving request, as Kubernetes'
/// `ValidateKubeletServingCSR` does: signer, the subject as [`parse`] wants it, at least one DNS
/// or IP name and no other kind of name, and usages within [`SERVING_USAGES`] including
/// [`SERVING_REQUIRED_USAGES`].
pub fn check_kubelet_serving(spec: &Value) -> Result<NodeRequest, String> {
    if spec["signerName"] != KUBELET_SERVING_SIGNER {
        return Err(format!("signerName is not {KUBELET_SERVING_SIGNER}"));
    }
    let Parsed {
        request,
        other_names,
    } = parse(spec)?;
    if let Some(bad) = other_names.first() {
        return Err(format!(
            "a kubelet serving certificate may hold only DNS and IP names, not {bad}"
        ));
    }
    if request.names.dns.is_empty() && request.names.ips.is_empty() {
        return Err(
            "a kubelet serving certificate needs a DNS or IP subject alternative name".into(),
        );
    }
    if let Some(bad) = request
        .usages
        .iter()
        .find(|u| !SERVING_USAGES.contains(&u.as_str()))
    {
        return Err(format!(
            "usage {bad:?} is not allowed for kubelet serving certificates"
        ));
    }
    if let Some(missing) = SERVING_REQUIRED_USAGES
        .iter()
        .find(|r| !request.usages.iter().any(|u| u == *r))
    {
        return Err(format!("usages must include {missing:?}"));
    }
    Ok(request)
}

/// Checks a CSR spec against the rules of its signer; `None` for signers this cluster ignores.
fn check(spec: &Value) -> Option<Result<NodeRequest, String>> {
    match spec["signerName"].as_str()? {
        KUBELET_CLIENT_SIGNER => Some(check_kubelet_client(spec)),
        KUBELET_SERVING_SIGNER => Some(check_kubelet_serving(spec)),
        _ => None,
    }
}

/// The type of the first decisive condition (Approved, Denied, Failed), if any.
pub fn decided(csr: &Value) -> Option<&str> {
    csr["status"]["conditions"]
        .as_array()?
        .iter()
        .filter(|c| c["status"] != "False")
        .filter_map(|c| c["type"].as_str())
        .find(|t| matches!(*t, "Approved" | "Denied" | "Failed"))
}

/// What the approver does with a CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Approve {
        message: String,
    },
    /// Left pending for a human (`kubectl certificate approve`), with the reason for the log.
    /// Nothing is ever denied, as Kubernetes' approver denies nothing.
    Leave(String),
}

/// The node whose Node object the approver must read before deciding on this CSR: the
/// requesting node of a pending kubelet serving request.
pub fn serving_node(csr: &Value) -> Option<&str> {
    if decided(csr).is_some() || csr["spec"]["signerName"] != KUBELET_SERVING_SIGNER {
        return None;
    }
    // Only names that are valid Node names: it becomes part of a request path.
    csr["spec"]["username"]
        .as_str()?
        .strip_prefix(NODE_USER_PREFIX)
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        })
}

/// Decides on a CSR. The requestor comes from `spec.username` and `spec.groups`, which the API
/// server sets from the authenticated user on create.
///
/// - Client requests are approved from bootstrap tokens (a new node) and from the node itself
///   (renewal, CN equal to the requesting user).
/// - Serving requests are approved only from the node itself (user `system:node:<name>` in
///   `system:nodes`, the CN naming the same node), when `node` (the Node `<name>`, as read by
///   the caller after [`serving_node`]) exists, every IP name is one of its
///   `status.addresses`, and every DNS name is the node's name or one of its hostname
///   addresses (`Hostname`, `InternalDNS`, `ExternalDNS`). A Node that has not reported its
///   addresses yet leaves the request pending until it has.
pub fn approval(csr: &Value, node: Option<&Value>) -> Approval {
    if let Some(d) = decided(csr) {
        return Approval::Leave(format!("already {d}"));
    }
    let spec = &csr["spec"];
    let req = match check(spec) {
        None => return Approval::Leave("not a kubelet request".into()),
        Some(Err(why)) => return Approval::Leave(why),
        Some(Ok(r)) => r,
    };
    let username = spec["username"].as_str().unwrap_or("");
    let in_group = |g: &str| {
        spec["groups"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == g))
    };
    let from_the_node =
        username == format!("{NODE_USER_PREFIX}{}", req.node_name) && in_group(NODES_GROUP);
    if spec["signerName"] == KUBELET_SERVING_SIGNER {
        if !from_the_node {
            return Approval::Leave(format!(
                "requestor {username:?} is not node {:?} in {NODES_GROUP}",
                req.node_name
            ));
        }
        return match serving_names_match(&req, node) {
            Ok(()) => Approval::Approve {
                message:
                    "Auto approving self kubelet serving certificate after SubjectAccessReview."
                        .into(),
            },
            Err(why) => Approval::Leave(why),
        };
    }
    if from_the_node {
        return Approval::Approve {
            message: "Auto approving self kubelet client certificate after SubjectAccessReview."
                .into(),
        };
    }
    if in_group(crate::join::token::BOOTSTRAPPERS_GROUP) {
        return Approval::Approve {
            message: "Auto approving kubelet client certificate after SubjectAccessReview.".into(),
        };
    }
    Approval::Leave(format!(
        "requestor {username:?} is neither a bootstrapper nor node {:?}",
        req.node_name
    ))
}

/// Whether every name of a serving request is one the Node reports for itself.
fn serving_names_match(req: &NodeRequest, node: Option<&Value>) -> Result<(), String> {
    let node = node
        .filter(|n| n["metadata"]["name"] == req.node_name.as_str())
        .ok_or_else(|| format!("node {:?} does not exist", req.node_name))?;
    let addresses: Vec<(&str, &str)> = node["status"]["addresses"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| Some((x["type"].as_str()?, x["address"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    for ip in &req.names.ips {
        let reported = addresses
            .iter()
            .any(|(_, a)| a.parse::<IpAddr>().is_ok_and(|x| x == *ip));
        if !reported {
            return Err(format!(
                "IP address {ip} is not among node {:?}'s addresses",
                req.node_name
            ));
        }
    }
    for dns in &req.names.dns {
        let reported = dns == &req.node_name
            || addresses
                .iter()
                .any(|(t, a)| matches!(*t, "Hostname" | "InternalDNS" | "ExternalDNS") && a == dns);
        if !reported {
            return Err(format!(
                "DNS name {dns:?} is neither node {:?}'s name nor one of its hostnames",
                req.node_name
            ));
        }
    }
    Ok(())
}

/// What the signer does with a CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// Not ours, not approved, already decided against, or already issued.
    Skip,
    /// Sign for `CN=system:node:<name>, O=system:nodes` with the request's usages and names.
    Sign(NodeRequest),
    /// Approved but invalid for this signer: marked `Failed` as Kubernetes' signer does.
    Fail(String),
}

pub fn signing(csr: &Value) -> Signing {
    if decided(csr) != Some("Approved")
        || csr["status"]["certificate"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    {
        return Signing::Skip;
    }
    match check(&csr["spec"]) {
        None => Signing::Skip,
        Some(Ok(r)) => Signing::Sign(r),
        Some(Err(why)) => Signing::Fail(why),
    }
}

/// `(notBefore, notAfter)` in Unix seconds: `expirationSeconds` (at least 10 minutes) or one
/// year, never beyond the CA's own `notAfter`.
pub fn validity(now: i64, expiration_seconds: Option<i64>, ca_not_after: i64) -> (i64, i64) {
    let duration = expiration_seconds
        .map(|s| s.max(MIN_VALIDITY_SECS))
        .unwrap_or(DEFAULT_VALIDITY_SECS);
    (now - BACKDATE_SECS, (now + duration).min(ca_not_after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
    use serde_json::json;

    fn request(cn: &str, orgs: &[&str], san: Option<&str>) -> String {
        let sans = san
            .map(|s| vec![SanType::DnsName(s.try_into().unwrap())])
            .unwrap_or_default();
        request_with(cn, orgs, sans)
    }

    fn request_with(cn: &str, orgs: &[&str], sans: Vec<SanType>) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        for o in orgs {
            dn.push(DnType::OrganizationName, *o);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        let pem = params.serialize_request(&key).unwrap().pem().unwrap();
        base64::engine::general_purpose::STANDARD.encode(pem)
    }

    fn csr(request: String, usages: &[&str], user: &str, groups: &[&str]) -> Value {
        json!({"metadata": {"name": "node-csr-x"},
            "spec": {"request": request, "signerName": KUBELET_CLIENT_SIGNER,
                "usages": usages, "username": user, "groups": groups}})
    }

    const BOOTSTRAP: &[&str] = &[
        "system:bootstrappers",
        "system:bootstrappers:kubeadm:default-node-token",
        "system:authenticated",
    ];
    const CLIENT: &[&str] = &["digital signature", "client auth"];

    #[test]
    fn a_bootstrapper_asking_for_a_node_client_certificate_is_approved() {
        let c = csr(
            request("system:node:n1", &["system:nodes"], None),
            CLIENT,
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&c, None), Approval::Approve { .. }));
        let mut approved = c.clone();
        approved["status"]["conditions"] = json!([{"type": "Approved", "status": "True"}]);
        assert_eq!(
            approval(&approved, None),
            Approval::Leave("already Approved".into())
        );
        match signing(&approved) {
            Signing::Sign(r) => assert_eq!(r.node_name, "n1"),
            other => panic!("{other:?}"),
        }
        // Pending requests are not signed.
        assert_eq!(signing(&c), Signing::Skip);
    }

    #[test]
    fn other_names_sans_and_server_auth_are_not_approved() {
        let other_cn = csr(
            request("system:admin", &["system:nodes"], None),
            CLIENT,
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&other_cn, None), Approval::Leave(_)));
        let masters = csr(
            request("system:node:n1", &["system:nodes", "system:masters"], None),
            CLIENT,
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&masters, None), Approval::Leave(_)));
        let san = csr(
            request("system:node:n1", &["system:nodes"], Some("n1.example")),
            CLIENT,
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        match approval(&san, None) {
            Approval::Leave(why) => assert!(why.contains("subject alternative"), "{why}"),
            other => panic!("{other:?}"),
        }
        let server = csr(
            request("system:node:n1", &["system:nodes"], None),
            &["digital signature", "client auth", "server auth"],
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&server, None), Approval::Leave(_)));
        let no_client = csr(
            request("system:node:n1", &["system:nodes"], None),
            &["digital signature"],
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&no_client, None), Approval::Leave(_)));
        // An approved request that the signer cannot honour is failed, not signed.
        let mut approved = server.clone();
        approved["status"]["conditions"] = json!([{"type": "Approved", "status": "True"}]);
        assert!(matches!(signing(&approved), Signing::Fail(_)));
    }

    #[test]
    fn nodes_may_renew_only_their_own_name() {
        let req = request("system:node:n1", &["system:nodes"], None);
        let own = csr(req.clone(), CLIENT, "system:node:n1", &["system:nodes"]);
        assert!(matches!(approval(&own, None), Approval::Approve { .. }));
        let other = csr(req.clone(), CLIENT, "system:node:n2", &["system:nodes"]);
        assert!(matches!(approval(&other, None), Approval::Leave(_)));
        let anyone = csr(req, CLIENT, "alice", &["system:authenticated"]);
        assert!(matches!(approval(&anyone, None), Approval::Leave(_)));
    }

    #[test]
    fn a_forged_request_signature_is_refused() {
        let good = request("system:node:n1", &["system:nodes"], None);
        let pem = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&good)
                .unwrap(),
        )
        .unwrap();
        use rustls_pki_types::pem::PemObject;
        let mut der =
            rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let forged = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        let c = csr(
            base64::engine::general_purpose::STANDARD.encode(forged),
            CLIENT,
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&c, None), Approval::Leave(_)));
    }

    #[test]
    fn validity_follows_the_request_and_the_ca() {
        let now = 1_000_000;
        assert_eq!(
            validity(now, None, i64::MAX),
            (now - BACKDATE_SECS, now + DEFAULT_VALIDITY_SECS)
        );
        assert_eq!(validity(now, Some(60), i64::MAX).1, now + 600);
        assert_eq!(validity(now, Some(7200), i64::MAX).1, now + 7200);
        assert_eq!(validity(now, None, now + 100).1, now + 100);
    }

    fn serving(request: String, usages: &[&str], user: &str, groups: &[&str]) -> Value {
        json!({"metadata": {"name": "csr-x"},
            "spec": {"request": request, "signerName": KUBELET_SERVING_SIGNER,
                "usages": usages, "username": user, "groups": groups}})
    }

    fn node(name: &str, addresses: &[(&str, &str)]) -> Value {
        let addresses: Vec<Value> = addresses
            .iter()
            .map(|(t, a)| json!({"type": t, "address": a}))
            .collect();
        json!({"metadata": {"name": name}, "status": {"addresses": addresses}})
    }

    fn ip(s: &str) -> SanType {
        SanType::IpAddress(s.parse().unwrap())
    }

    fn dns(s: &str) -> SanType {
        SanType::DnsName(s.try_into().unwrap())
    }

    const NODE: &[&str] = &["system:nodes", "system:authenticated"];
    const SERVING: &[&str] = &["digital signature", "server auth"];

    fn n1() -> Value {
        node(
            "n1",
            &[
                ("InternalIP", "10.0.0.5"),
                ("ExternalIP", "203.0.113.7"),
                ("Hostname", "n1.lan"),
            ],
        )
    }

    #[test]
    fn a_node_asking_for_a_serving_certificate_for_its_own_addresses_is_approved() {
        let req = request_with(
            "system:node:n1",
            &["system:nodes"],
            vec![dns("n1"), dns("n1.lan"), ip("10.0.0.5"), ip("203.0.113.7")],
        );
        let c = serving(req.clone(), SERVING, "system:node:n1", NODE);
        assert_eq!(serving_node(&c), Some("n1"));
        assert!(matches!(
            approval(&c, Some(&n1())),
            Approval::Approve { .. }
        ));
        // Key encipherment is allowed (RSA keys ask for it).
        let rsa_like = serving(
            req,
            &["digital signature", "key encipherment", "server auth"],
            "system:node:n1",
            NODE,
        );
        assert!(matches!(
            approval(&rsa_like, Some(&n1())),
            Approval::Approve { .. }
        ));
        // Once approved, the signer issues it with the requested names.
        let mut approved = c.clone();
        approved["status"]["conditions"] = json!([{"type": "Approved", "status": "True"}]);
        assert_eq!(serving_node(&approved), None);
        match signing(&approved) {
            Signing::Sign(r) => {
                assert_eq!(r.node_name, "n1");
                assert_eq!(r.names.dns, vec!["n1".to_string(), "n1.lan".to_string()]);
                assert_eq!(
                    r.names.ips,
                    vec![
                        "10.0.0.5".parse::<IpAddr>().unwrap(),
                        "203.0.113.7".parse().unwrap()
                    ]
                );
                assert_eq!(r.usages, SERVING);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serving_requests_for_addresses_the_node_does_not_report_stay_pending() {
        let leave = |sans: Vec<SanType>, node: Option<&Value>| {
            let c = serving(
                request_with("system:node:n1", &["system:nodes"], sans),
                SERVING,
                "system:node:n1",
                NODE,
            );
            match approval(&c, node) {
                Approval::Leave(why) => why,
                other => panic!("{other:?}"),
            }
        };
        let why = leave(vec![ip("10.0.0.6")], Some(&n1()));
        assert!(why.contains("10.0.0.6"), "{why}");
        let why = leave(vec![dns("n2")], Some(&n1()));
        assert!(why.contains("n2"), "{why}");
        let why = leave(vec![ip("10.0.0.5")], None);
        assert!(why.contains("does not exist"), "{why}");
        // A node that has not reported addresses yet: pending until it has.
        leave(vec![ip("10.0.0.5")], Some(&node("n1", &[])));
        // The Node read must be the requesting node's own.
        leave(
            vec![ip("10.0.0.5")],
            Some(&node("n2", &[("InternalIP", "10.0.0.5")])),
        );
    }

    #[test]
    fn serving_requests_must_come_from_the_node_they_name() {
        let req = request_with("system:node:n1", &["system:nodes"], vec![ip("10.0.0.5")]);
        for (user, groups) in [
            ("system:node:n2", NODE),
            ("system:node:n1", &["system:authenticated"][..]),
            ("system:bootstrap:abcdef", BOOTSTRAP),
            ("kubernetes-admin", &["system:masters"][..]),
        ] {
            let c = serving(req.clone(), SERVING, user, groups);
            assert!(
                matches!(approval(&c, Some(&n1())), Approval::Leave(_)),
                "{user}"
            );
        }
    }

    #[test]
    fn malformed_serving_requests_stay_pending_and_are_never_signed() {
        let approved = |mut c: Value| {
            c["status"]["conditions"] = json!([{"type": "Approved", "status": "True"}]);
            c
        };
        let cases = [
            // No names at all.
            (
                request_with("system:node:n1", &["system:nodes"], vec![]),
                SERVING,
            ),
            // An email or URI name.
            (
                request_with(
                    "system:node:n1",
                    &["system:nodes"],
                    vec![
                        ip("10.0.0.5"),
                        SanType::Rfc822Name("a@b.c".try_into().unwrap()),
                    ],
                ),
                SERVING,
            ),
            (
                request_with(
                    "system:node:n1",
                    &["system:nodes"],
                    vec![
                        ip("10.0.0.5"),
                        SanType::URI("spiffe://x/y".try_into().unwrap()),
                    ],
                ),
                SERVING,
            ),
            // Another organization, or an extra one.
            (
                request_with(
                    "system:node:n1",
                    &["system:nodes", "system:masters"],
                    vec![ip("10.0.0.5")],
                ),
                SERVING,
            ),
            (
                request_with("system:node:n1", &["other"], vec![ip("10.0.0.5")]),
                SERVING,
            ),
            // Not a node's name.
            (
                request_with("kube-apiserver", &["system:nodes"], vec![ip("10.0.0.5")]),
                SERVING,
            ),
            // Client auth, or no server auth.
            (
                request_with("system:node:n1", &["system:nodes"], vec![ip("10.0.0.5")]),
                &["digital signature", "server auth", "client auth"][..],
            ),
            (
                request_with("system:node:n1", &["system:nodes"], vec![ip("10.0.0.5")]),
                &["digital signature", "key encipherment"][..],
            ),
            (
                request_with("system:node:n1", &["system:nodes"], vec![ip("10.0.0.5")]),
                &["server auth"][..],
            ),
        ];
        for (req, usages) in cases {
            let c = serving(req, usages, "system:node:n1", NODE);
            assert!(
                matches!(approval(&c, Some(&n1())), Approval::Leave(_)),
                "{usages:?}"
            );
            assert!(
                matches!(signing(&approved(c)), Signing::Fail(_)),
                "{usages:?}"
            );
        }
        // Signers this cluster does not run are neither approved nor signed.
        let mut other = serving(
            request_with("system:node:n1", &["system:nodes"], vec![ip("10.0.0.5")]),
            SERVING,
            "system:node:n1",
            NODE,
        );
        other["spec"]["signerName"] = json!("example.com/other");
        assert!(matches!(approval(&other, Some(&n1())), Approval::Leave(_)));
        assert_eq!(signing(&approved(other)), Signing::Skip);
    }
}
