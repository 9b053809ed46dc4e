//! The cluster's public-key infrastructure: a CA generated on first start and kept in the data
//! directory, the API server's serving certificate, client certificates, and the admin kubeconfig.
//!
//! The CA key never leaves `DIR/pki/ca.key` (mode 0600). The serving certificate is re-issued on
//! every start so that its names follow `--listen`; the CA and admin identity persist.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Common name of the admin identity written into `admin.kubeconfig`.
pub const ADMIN_USER: &str = "kubernetes-admin";
/// Group that Kubernetes treats as cluster superusers.
pub const ADMIN_GROUP: &str = "system:masters";
/// Common name of the API server's client identity towards kubelets (kubeadm's
/// `apiserver-kubelet-client`); kubelets trust it because it chains to the cluster CA.
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";
/// A kept certificate is re-issued once it has less than this left (kubeadm renews a month
/// ahead too).
const RENEW_BEFORE_SECS: i64 = 30 * 24 * 3600;

/// A certificate and its private key, both PEM.
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The cluster CA, loaded from or created in `DIR/pki`.
pub struct ClusterCa {
    dir: PathBuf,
    pub cert_pem: String,
    key: KeyPair,
}

impl ClusterCa {
    /// Loads the CA from `data_dir/pki`, creating it (and the folder) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<ClusterCa> {
        let dir = data_dir.join("pki");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let cert_path = dir.join("ca.crt");
        let key_path = dir.join("ca.key");
        if cert_path.exists() && key_path.exists() {
            let cert_pem = fs::read_to_string(&cert_path)
                .with_context(|| format!("reading {}", cert_path.display()))?;
            let key_pem = fs::read_to_string(&key_path)
                .with_context(|| format!("reading {}", key_path.display()))?;
            let key = KeyPair::from_pem(&key_pem)
                .with_context(|| format!("parsing CA key {}", key_path.display()))?;
            // Fail now rather than at the first signature if the pair does not parse.
            Issuer::from_ca_cert_pem(&cert_pem, &key)
                .with_context(|| format!("parsing CA certificate {}", cert_path.display()))?;
            return Ok(ClusterCa { dir, cert_pem, key });
        }
        let key = KeyPair::generate().context("generating CA key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kubernetes");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, 10);
        let cert = params.self_signed(&key).context("self-signing the CA")?;
        let cert_pem = cert.pem();
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        write_atomic(&cert_path, cert_pem.as_bytes())?;
        Ok(ClusterCa { dir, cert_pem, key })
    }

    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>> {
        Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).context("loading CA as issuer")
    }

    /// Issues the API server's serving certificate for the given names and addresses.
    pub fn issue_serving(&self, dns_names: &[String], ips: &[IpAddr]) -> Result<CertKey> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        params.distinguished_name = dn;
        params.subject_alt_names = dns_names
            .iter()
            .map(|n| Ok(SanType::DnsName(n.clone().try_into()?)))
            .collect::<Result<Vec<_>, rcgen::Error>>()?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params, 1);
        let cert = params.signed_by(&key, &self.issuer()?)?;
        Ok(CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issues a client certificate: the CN is the user name, each O a group, as Kubernetes reads them.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<CertKey> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, user);
        for g in groups {
            dn.push(DnType::OrganizationName, *g);
        }
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        set_validity(&mut params, 1);
        let cert = params.signed_by(&key, &self.issuer()?)?;
        Ok(CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA certificate's `notAfter`, in Unix seconds: nothing it signs may outlive it.
    pub fn not_after(&self) -> Result<i64> {
        not_after(&self.cert_pem).context("reading the CA certificate")
    }

    /// Signs a certificate request (whose self-signature is verified here) for the subject,
    /// names and usages the caller checked, valid between the given Unix times. The subject and
    /// extensions come from the arguments, never from the request, so nothing the requester
    /// slipped into it beyond its public key ends up in the certificate.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_request(
        &self,
        request_der: &[u8],
        common_name: &str,
        organizations: &[&str],
        usages: &[String],
        names: &SubjectAltNames,
        not_before: i64,
        not_after: i64,
    ) -> Result<String> {
        let der = rustls_pki_types::CertificateSigningRequestDer::from(request_der.to_vec());
        let requested = rcgen::CertificateSigningRequestParams::from_der(&der)
            .context("parsing the certificate request")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        for o in organizations {
            dn.push(DnType::OrganizationName, *o);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = names
            .dns
            .iter()
            .map(|n| Ok(SanType::DnsName(n.clone().try_into()?)))
            .collect::<Result<Vec<_>, rcgen::Error>>()?;
        params
            .subject_alt_names
            .extend(names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        for u in usages {
            match u.as_str() {
                "digital signature" => params.key_usages.push(KeyUsagePurpose::DigitalSignature),
                "key encipherment" => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
                "client auth" => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth),
                "server auth" => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth),
                other => anyhow::bail!("usage {other:?} is not supported by this signer"),
            }
        }
        let time = |t: i64| -> Result<_> {
            Ok(x509_parser::time::ASN1Time::from_timestamp(t)
                .map_err(|e| anyhow::anyhow!("time {t}: {e}"))?
                .to_datetime())
        };
        params.not_before = time(not_before)?;
        params.not_after = time(not_after)?;
        let mut serial: [u8; 16] = rand::random();
        serial[0] &= 0x7f;
        params.serial_number = Some(serial.to_vec().into());
        let csr = rcgen::CertificateSigningRequestParams {
            params,
            public_key: requested.public_key,
        };
        Ok(csr.signed_by(&self.issuer()?)?.pem())
    }

    /// Returns the admin identity, issuing it on first use and keeping it in `pki/`.
    pub fn admin(&self) -> Result<CertKey> {
        self.kept_client("admin", ADMIN_USER, &[ADMIN_GROUP])
    }

    /// Returns the API server's client identity towards kubelets (`pki/apiserver-kubelet-client.*`,
    /// `CN=kube-apiserver-kubelet-client, O=system:masters`, client auth), issuing it on first
    /// use and again when it nears its end.
    pub fn kubelet_client(&self) -> Result<CertKey> {
        self.kept_client(
            "apiserver-kubelet-client",
            KUBELET_CLIENT_USER,
            &[ADMIN_GROUP],
        )
    }

    /// A client identity kept in `pki/<file>.crt|key`: reused while it has more than
    /// [`RENEW_BEFORE_SECS`] left, else issued anew.
    fn kept_client(&self, file: &str, user: &str, groups: &[&str]) -> Result<CertKey> {
        let cert_path = self.dir.join(format!("{file}.crt"));
        let key_path = self.dir.join(format!("{file}.key"));
        if cert_path.exists() && key_path.exists() {
            let kept = CertKey {
                cert_pem: fs::read_to_string(&cert_path)?,
                key_pem: fs::read_to_string(&key_path)?,
            };
            let now = jiff::Timestamp::now().as_second();
            if not_after(&kept.cert_pem).is_ok_and(|end| end - now > RENEW_BEFORE_SECS) {
                return Ok(kept);
            }
            tracing::info!("re-issuing {} (expired or expiring)", cert_path.display());
        }
        let ck = self.issue_client(user, groups)?;
        write_private(&key_path, ck.key_pem.as_bytes())?;
        write_atomic(&cert_path, ck.cert_pem.as_bytes())?;
        Ok(ck)
    }
}

/// Subject alternative names for [`ClusterCa::sign_request`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectAltNames {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

/// The `notAfter` of the first certificate of a PEM, in Unix seconds.
fn not_after(cert_pem: &str) -> Result<i64> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .context("parsing a certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow::anyhow!("parsing a certificate: {e}"))?;
    Ok(cert.validity().not_after.timestamp())
}

/// Renders a kubeconfig for one cluster, user and context, with everything embedded.
pub fn kubeconfig(server_url: &str, ca_pem: &str, user: &str, client: &CertKey) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: {user}@kubernetes\n  context:\n    cluster: kubernetes\n    user: {user}\ncurrent-context: {user}@kubernetes\npreferences: {{}}\n",
        ca = b64(ca_pem),
        cert = b64(&client.cert_pem),
        key = b64(&client.key_pem),
    )
}

/// Writes a file readable only by its owner, atomically (temp file, fsync, rename).
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    write_with_mode(path, data, 0o600)
}

/// Writes a file atomically (temp file, fsync, rename) so a crash never leaves half of it.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_with_mode(path, data, 0o644)
}

fn write_with_mode(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn set_validity(params: &mut CertificateParams, years: i32) {
    let now = jiff::Timestamp::now();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    // Backdate by a day so clocks that lag a little still accept a fresh certificate.
    let start = today.yesterday().unwrap_or(today);
    params.not_before = rcgen::date_time_ymd(
        i32::from(start.year()),
        start.month() as u8,
        start.day() as u8,
    );
    let end_year = i32::from(today.year()) + years;
    params.not_after =
        rcgen::date_time_ymd(end_year, today.month() as u8, today.day().min(28) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_survives_a_restart_and_signs_clients() {
        let dir = tempfile::tempdir().unwrap();
        let first = ClusterCa::load_or_create(dir.path()).unwrap();
        let again = ClusterCa::load_or_create(dir.path()).unwrap();
        assert_eq!(first.cert_pem, again.cert_pem);
        let admin = again.admin().unwrap();
        assert!(admin.cert_pem.contains("BEGIN CERTIFICATE"));
        assert_eq!(again.admin().unwrap().cert_pem, admin.cert_pem);
        let mode = fs::metadata(dir.path().join("pki/ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "CA key must be private");
    }

    #[test]
    fn the_kubelet_client_identity_is_kept_while_valid_and_reissued_when_expiring() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::load_or_create(dir.path()).unwrap();
        let first = ca.kubelet_client().unwrap();
        assert_eq!(ca.kubelet_client().unwrap().cert_pem, first.cert_pem);
        use rustls_pki_types::pem::PemObject;
        let der =
            rustls_pki_types::CertificateDer::from_pem_slice(first.cert_pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            cert.subject().to_string(),
            "CN=kube-apiserver-kubelet-client, O=system:masters"
        );
        // A certificate about to expire is replaced.
        let mut params = CertificateParams::default();
        let key = KeyPair::generate().unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let old = params.signed_by(&key, &ca.issuer().unwrap()).unwrap();
        write_atomic(
            &dir.path().join("pki/apiserver-kubelet-client.crt"),
            old.pem().as_bytes(),
        )
        .unwrap();
        let renewed = ca.kubelet_client().unwrap();
        assert_ne!(renewed.cert_pem, old.pem());
        assert!(not_after(&renewed.cert_pem).unwrap() > jiff::Timestamp::now().as_second());
    }
}
