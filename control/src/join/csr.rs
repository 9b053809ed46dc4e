//! The decisions behind kubelet client certificates: which CertificateSigningRequests the
//! approver approves on its own (kube-controller-manager's csrapproving for the
//! `kubernetes.io/kube-apiserver-client-kubelet` signer), which ones the signer signs, and for
//! how long. Pure functions over the CSR object; the loops in `loops/csr.rs` do the IO.

use base64::Engine;
use serde_json::Value;
use x509_parser::prelude::FromDer;

/// The signer of kubelets' client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// User name prefix of nodes.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group of nodes.
pub const NODES_GROUP: &str = "system:nodes";
/// Usages a kubelet client certificate may carry; `client auth` is required.
pub const ALLOWED_USAGES: &[&str] = &["digital signature", "key encipherment", "client auth"];
/// Validity when the request names none (kube-controller-manager's `--cluster-signing-duration`).
pub const DEFAULT_VALIDITY_SECS: i64 = 365 * 24 * 3600;
/// The shortest validity the API accepts in `expirationSeconds`.
pub const MIN_VALIDITY_SECS: i64 = 600;
/// How far back `notBefore` is set, so a node whose clock lags a little accepts the certificate.
pub const BACKDATE_SECS: i64 = 5 * 60;

/// A checked kubelet client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeClientRequest {
    /// The node name from `CN=system:node:<name>`.
    pub node_name: String,
    /// The DER of the certificate request, its signature verified.
    pub der: Vec<u8>,
    pub usages: Vec<String>,
}

/// Checks that a CSR spec is a well-formed kubelet client request: signer, a parseable request
/// whose self-signature verifies, subject exactly `CN=system:node:<name>, O=system:nodes`, no
/// subject alternative names, and usages within [`ALLOWED_USAGES`] including `client auth`.
pub fn check_kubelet_client(spec: &Value) -> Result<NodeClientRequest, String> {
    if spec["signerName"] != KUBELET_CLIENT_SIGNER {
        return Err(format!("signerName is not {KUBELET_CLIENT_SIGNER}"));
    }
    let pem_bytes = base64::engine::general_purpose::STANDARD
        .decode(spec["request"].as_str().unwrap_or(""))
        .map_err(|_| "spec.request is not base64".to_string())?;
    let pem_text = String::from_utf8(pem_bytes).map_err(|_| "spec.request is not PEM")?;
    let der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem_text.as_bytes())
            .map_err(|_| "spec.request holds no CERTIFICATE REQUEST PEM block".to_string())?
    };
    // Parses and verifies the request's signature (proof of possession of the key).
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
    if let Some(exts) = parsed.requested_extensions() {
        for ext in exts {
            if let x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) = ext {
                if !san.general_names.is_empty() {
                    return Err(
                        "a kubelet client certificate may not have subject alternative names"
                            .into(),
                    );
                }
            }
        }
    }
    let usages: Vec<String> = spec["usages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = usages
        .iter()
        .find(|u| !ALLOWED_USAGES.contains(&u.as_str()))
    {
        return Err(format!(
            "usage {bad:?} is not allowed for kubelet client certificates"
        ));
    }
    if !usages.iter().any(|u| u == "client auth") {
        return Err("usages must include \"client auth\"".into());
    }
    Ok(NodeClientRequest {
        node_name,
        der: der.as_ref().to_vec(),
        usages,
    })
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
    Leave(String),
}

/// Approves kubelet client requests from bootstrap tokens (a new node) and from the node itself
/// (renewal, CN equal to the requesting user). The requestor comes from `spec.username` and
/// `spec.groups`, which the API server sets from the authenticated user on create.
pub fn approval(csr: &Value) -> Approval {
    if let Some(d) = decided(csr) {
        return Approval::Leave(format!("already {d}"));
    }
    let spec = &csr["spec"];
    if spec["signerName"] != KUBELET_CLIENT_SIGNER {
        return Approval::Leave("not a kubelet client request".into());
    }
    let req = match check_kubelet_client(spec) {
        Ok(r) => r,
        Err(why) => return Approval::Leave(why),
    };
    let username = spec["username"].as_str().unwrap_or("");
    let in_group = |g: &str| {
        spec["groups"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == g))
    };
    if username == format!("{NODE_USER_PREFIX}{}", req.node_name) && in_group(NODES_GROUP) {
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

/// What the signer does with a CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// Not ours, not approved, already decided against, or already issued.
    Skip,
    Sign(NodeClientRequest),
    /// Approved but invalid for this signer: marked `Failed` as Kubernetes' signer does.
    Fail(String),
}

pub fn signing(csr: &Value) -> Signing {
    let spec = &csr["spec"];
    if spec["signerName"] != KUBELET_CLIENT_SIGNER
        || decided(csr) != Some("Approved")
        || csr["status"]["certificate"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    {
        return Signing::Skip;
    }
    match check_kubelet_client(spec) {
        Ok(r) => Signing::Sign(r),
        Err(why) => Signing::Fail(why),
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
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        for o in orgs {
            dn.push(DnType::OrganizationName, *o);
        }
        params.distinguished_name = dn;
        if let Some(s) = san {
            params.subject_alt_names = vec![SanType::DnsName(s.try_into().unwrap())];
        }
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
        assert!(matches!(approval(&c), Approval::Approve { .. }));
        let mut approved = c.clone();
        approved["status"]["conditions"] = json!([{"type": "Approved", "status": "True"}]);
        assert_eq!(
            approval(&approved),
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
        assert!(matches!(approval(&other_cn), Approval::Leave(_)));
        let masters = csr(
            request("system:node:n1", &["system:nodes", "system:masters"], None),
            CLIENT,
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&masters), Approval::Leave(_)));
        let san = csr(
            request("system:node:n1", &["system:nodes"], Some("n1.example")),
            CLIENT,
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        match approval(&san) {
            Approval::Leave(why) => assert!(why.contains("subject alternative"), "{why}"),
            other => panic!("{other:?}"),
        }
        let server = csr(
            request("system:node:n1", &["system:nodes"], None),
            &["digital signature", "client auth", "server auth"],
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&server), Approval::Leave(_)));
        let no_client = csr(
            request("system:node:n1", &["system:nodes"], None),
            &["digital signature"],
            "system:bootstrap:abcdef",
            BOOTSTRAP,
        );
        assert!(matches!(approval(&no_client), Approval::Leave(_)));
        // An approved request that the signer cannot honour is failed, not signed.
        let mut approved = server.clone();
        approved["status"]["conditions"] = json!([{"type": "Approved", "status": "True"}]);
        assert!(matches!(signing(&approved), Signing::Fail(_)));
    }

    #[test]
    fn nodes_may_renew_only_their_own_name() {
        let req = request("system:node:n1", &["system:nodes"], None);
        let own = csr(req.clone(), CLIENT, "system:node:n1", &["system:nodes"]);
        assert!(matches!(approval(&own), Approval::Approve { .. }));
        let other = csr(req.clone(), CLIENT, "system:node:n2", &["system:nodes"]);
        assert!(matches!(approval(&other), Approval::Leave(_)));
        let anyone = csr(req, CLIENT, "alice", &["system:authenticated"]);
        assert!(matches!(approval(&anyone), Approval::Leave(_)));
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
        assert!(matches!(approval(&c), Approval::Leave(_)));
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
}
