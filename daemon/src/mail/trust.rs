//! Which server certificates an IMAP/SMTP account trusts: one rustls
//! verifier, shared by IMAP, SMTP and the connection test.
//!
//! - Neither `ca_file` nor `pin_sha256`: the Mozilla roots (webpki-roots).
//! - `ca_file`: only the certificates in that file. A certificate of the file
//!   that the server presents as its own (a self-signed server certificate)
//!   is accepted as it is; any other certificate must chain to one of them
//!   (webpki, dates and usage checked).
//! - `pin_sha256`: only the certificate whose SHA-256 is the pin, whoever
//!   signed it.
//!
//! A certificate accepted as given or by its pin still has to name the host
//! connected to (subjectAltName): the pin or the file says which certificate,
//! the name says that it was made for this server, so a pin copied from
//! another machine, or a certificate of another service on the same key, is
//! refused. Its dates are not checked: those exact bytes are trusted, and a
//! self-signed certificate has no issuer that could have revoked it.
//! Handshake signatures are always verified with the certificate's key.
//!
//! Every refusal carries the SHA-256 fingerprint of the certificate the
//! server presented ([`Untrusted`]), so that the user can check it with the
//! server's administrator and pin it.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The SHA-256 of a certificate, as `openssl x509 -fingerprint -sha256`
/// prints it: upper-case hex bytes separated by colons.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex = hex::encode_upper(digest);
    let mut out = String::with_capacity(95);
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(std::str::from_utf8(pair).unwrap_or_default());
    }
    out
}

/// A pin as the user gives it: 64 hex digits, with or without colons, in
/// either case (an `sha256 Fingerprint=` prefix, as openssl prints it, is
/// allowed). The error names `pin_sha256`.
pub fn parse_pin(pin: &str) -> Result<[u8; 32]> {
    let trimmed = pin.trim();
    let trimmed = trimmed
        .split_once('=')
        .filter(|(label, _)| label.trim().eq_ignore_ascii_case("sha256 fingerprint"))
        .map_or(trimmed, |(_, value)| value.trim());
    let digits: String = trimmed.chars().filter(|c| *c != ':').collect();
    let mut bytes = [0u8; 32];
    match hex::decode_to_slice(&digits, &mut bytes) {
        Ok(()) => Ok(bytes),
        Err(_) => Err(Error::invalid(
            "pin_sha256",
            "expected the SHA-256 fingerprint of the server's certificate: 64 hex digits, colons allowed (as `openssl x509 -noout -fingerprint -sha256` prints it)",
        )),
    }
}

/// A pin in the form it is stored and shown in: that of [`fingerprint`].
pub fn normalize_pin(pin: &str) -> Result<String> {
    let bytes = parse_pin(pin)?;
    let hex = hex::encode_upper(bytes);
    Ok(hex
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(":"))
}

/// The certificates of a PEM file; an error names `ca_file`.
pub fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::invalid("ca_file", format!("cannot read {}: {e}", path.display())))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::invalid(
                "ca_file",
                format!("{}: not PEM certificates: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::invalid(
            "ca_file",
            format!("{} holds no CERTIFICATE block", path.display()),
        ));
    }
    Ok(certs)
}

/// The TLS client configuration of an account (see the module's text).
pub fn tls_config(
    ca_file: Option<&Path>,
    pin_sha256: Option<&str>,
) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    config_with(Verifier::new(ca_file, pin_sha256, &provider)?, provider)
}

/// The fingerprint of the last certificate a configuration's verifier saw.
pub type Seen = Arc<std::sync::Mutex<Option<String>>>;

/// [`tls_config`] for one connection test: it also says which certificate
/// the server presented, trusted or not.
pub fn tls_config_seen(
    ca_file: Option<&Path>,
    pin_sha256: Option<&str>,
) -> Result<(Arc<rustls::ClientConfig>, Seen)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen = Seen::default();
    let mut verifier = Verifier::new(ca_file, pin_sha256, &provider)?;
    verifier.seen = Some(seen.clone());
    Ok((config_with(verifier, provider)?, seen))
}

fn config_with(
    verifier: Verifier,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<rustls::ClientConfig>> {
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal("TLS setup", e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why a server certificate was refused, and which certificate it was.
/// Travels inside `rustls::Error::InvalidCertificate(CertificateError::Other)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    /// The SHA-256 of the certificate the server presented ([`fingerprint`]).
    pub fingerprint: String,
    pub why: String,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (the server presented the certificate with SHA-256 fingerprint {})",
            self.why, self.fingerprint
        )
    }
}

impl std::error::Error for Untrusted {}

/// The account's server certificate verifier.
pub struct Verifier {
    /// The certificates of `ca_file`: one of them presented by the server as
    /// its own is accepted as it is.
    given: Vec<CertificateDer<'static>>,
    pin: Option<[u8; 32]>,
    /// Chain verification against the roots (`ca_file`'s certificates, else
    /// the Mozilla roots); none with a pin.
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    seen: Option<Seen>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("given", &self.given.len())
            .field("pinned", &self.pin.is_some())
            .field("chain", &self.chain.is_some())
            .finish()
    }
}

impl Verifier {
    pub fn new(
        ca_file: Option<&Path>,
        pin_sha256: Option<&str>,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Verifier> {
        let algorithms = provider.signature_verification_algorithms;
        let chain_over = |roots: rustls::RootCertStore| {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| Error::internal("TLS setup", e))
        };
        match (ca_file, pin_sha256) {
            (Some(_), Some(_)) => Err(Error::invalid(
                "pin_sha256",
                "give either ca_file or pin_sha256, not both",
            )),
            (None, Some(pin)) => Ok(Verifier {
                given: Vec::new(),
                pin: Some(parse_pin(pin)?),
                chain: None,
                algorithms,
                seen: None,
            }),
            (Some(path), None) => {
                let given = ca_certificates(path)?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in &given {
                    // A certificate that cannot anchor a chain may still be
                    // the server's own; one that is neither is refused here.
                    if roots.add(cert.clone()).is_err() {
                        ParsedCertificate::try_from(cert).map_err(|e| {
                            Error::invalid(
                                "ca_file",
                                format!("{}: not a usable certificate: {e}", path.display()),
                            )
                        })?;
                    }
                }
                let chain = if roots.is_empty() {
                    None
                } else {
                    Some(chain_over(roots)?)
                };
                Ok(Verifier {
                    given,
                    pin: None,
                    chain,
                    algorithms,
                    seen: None,
                })
            }
            (None, None) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                Ok(Verifier {
                    given: Vec::new(),
                    pin: None,
                    chain: Some(chain_over(roots)?),
                    algorithms,
                    seen: None,
                })
            }
        }
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<(), String> {
        let given = self.given.iter().any(|c| c.as_ref() == end_entity.as_ref());
        let pinned = self
            .pin
            .is_some_and(|pin| Sha256::digest(end_entity.as_ref()).as_slice() == pin);
        if given || pinned {
            return ParsedCertificate::try_from(end_entity)
                .and_then(|cert| verify_server_name(&cert, server_name))
                .map_err(|e| describe(&e, server_name));
        }
        match &self.chain {
            Some(chain) => chain
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ())
                .map_err(|e| describe(&e, server_name)),
            None => Err("it is not the pinned certificate (pin_sha256)".to_owned()),
        }
    }
}

/// A refusal in words.
fn describe(e: &rustls::Error, server_name: &ServerName<'_>) -> String {
    match e {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "NotValidForName: the certificate does not name {}",
            server_name.to_str()
        ),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "UnknownIssuer: not signed by a trusted certificate authority".to_owned()
        }
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e)))
            if e.to_string() == "CaUsedAsEndEntity" =>
        {
            "CaUsedAsEndEntity: the server presented a CA certificate as its own (a self-signed certificate?)".to_owned()
        }
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e))) => e.to_string(),
        rustls::Error::InvalidCertificate(why) => format!("{why:?}"),
        other => other.to_string(),
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(seen) = &self.seen
            && let Ok(mut seen) = seen.lock()
        {
            *seen = Some(fingerprint(end_entity.as_ref()));
        }
        match self.check(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(why) => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(Untrusted {
                    fingerprint: fingerprint(end_entity.as_ref()),
                    why,
                })),
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The [`Untrusted`] refusal inside a rustls error, if that is what it is.
pub fn untrusted(error: &rustls::Error) -> Option<&Untrusted> {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e))) => {
            e.downcast_ref::<Untrusted>()
        }
        _ => None,
    }
}

/// The certificates of `testdata/` were made with openssl (P-256 keys, valid
/// for 100 years): `self-signed.pem` by `req -x509 -subj /CN=localhost -addext
/// subjectAltName=DNS:localhost` (openssl marks it CA:TRUE, as most
/// self-signed server certificates are), `ca.pem` a CA, `leaf.pem` a
/// localhost certificate it signed, `other.key` a key of none of them.
#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;

    const SELF_SIGNED: &[u8] = include_bytes!("testdata/self-signed.pem");
    const SELF_SIGNED_KEY: &[u8] = include_bytes!("testdata/self-signed.key");
    const CA: &[u8] = include_bytes!("testdata/ca.pem");
    const LEAF: &[u8] = include_bytes!("testdata/leaf.pem");
    const LEAF_KEY: &[u8] = include_bytes!("testdata/leaf.key");
    const OTHER_KEY: &[u8] = include_bytes!("testdata/other.key");
    /// `openssl x509 -in testdata/self-signed.pem -noout -fingerprint -sha256`
    const SELF_SIGNED_SHA256: &str = "83:79:55:E2:EA:7E:B2:62:22:51:44:9A:3B:BC:12:BE:D5:40:41:AA:05:60:0F:16:52:1C:E2:B9:F1:87:2A:65";

    fn pem_file(dir: &tempfile::TempDir, name: &str, pems: &[&[u8]]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, pems.concat()).unwrap();
        path
    }

    /// A server that presents `cert` and signs with `key` (not necessarily
    /// the certificate's own).
    #[derive(Debug)]
    struct Presents(Arc<CertifiedKey>);

    impl ResolvesServerCert for Presents {
        fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    /// One in-memory handshake; the client's error, if any.
    async fn handshake(
        client: Arc<rustls::ClientConfig>,
        host: &str,
        cert: &[u8],
        key: &[u8],
    ) -> std::result::Result<(), rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = vec![CertificateDer::from_pem_slice(cert).unwrap()];
        let key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::from_pem_slice(key).unwrap())
            .unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Presents(Arc::new(CertifiedKey::new(certs, key)))));
        let (a, b) = tokio::io::duplex(64 * 1024);
        let accept = tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(b);
        let connect = tokio_rustls::TlsConnector::from(client)
            .connect(ServerName::try_from(host.to_owned()).unwrap(), a);
        let (_, connected) = tokio::join!(accept, connect);
        match connected {
            Ok(_) => Ok(()),
            Err(e) => Err(crate::mail::net::rustls_cause(&e)
                .cloned()
                .unwrap_or_else(|| panic!("not a TLS error: {e}"))),
        }
    }

    fn refusal(e: &rustls::Error) -> &Untrusted {
        untrusted(e).unwrap_or_else(|| panic!("not a refusal of the certificate: {e:?}"))
    }

    #[test]
    fn pins_are_hex_with_or_without_colons_in_either_case() {
        let pin = parse_pin(SELF_SIGNED_SHA256).unwrap();
        assert_eq!(parse_pin(&SELF_SIGNED_SHA256.to_lowercase()).unwrap(), pin);
        assert_eq!(
            parse_pin(&SELF_SIGNED_SHA256.replace(':', "")).unwrap(),
            pin
        );
        assert_eq!(
            parse_pin(&format!("sha256 Fingerprint={SELF_SIGNED_SHA256}\n")).unwrap(),
            pin
        );
        assert_eq!(
            normalize_pin(&SELF_SIGNED_SHA256.replace(':', "").to_lowercase()).unwrap(),
            SELF_SIGNED_SHA256
        );
        for bad in [
            "",
            "83:79",
            &SELF_SIGNED_SHA256[3..],
            &format!("{SELF_SIGNED_SHA256}:00"),
            &SELF_SIGNED_SHA256.replace('8', "g"),
            "md5 Fingerprint=83:79",
        ] {
            assert_eq!(
                parse_pin(bad).unwrap_err().details["field"],
                "pin_sha256",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_fingerprint_is_openssls() {
        let der = CertificateDer::from_pem_slice(SELF_SIGNED).unwrap();
        assert_eq!(fingerprint(der.as_ref()), SELF_SIGNED_SHA256);
    }

    #[test]
    fn a_ca_file_without_certificates_or_with_a_pin_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = pem_file(&dir, "ca.pem", &[b"not a certificate"]);
        assert_eq!(
            tls_config(Some(&path), None).unwrap_err().details["field"],
            "ca_file"
        );
        let path = pem_file(&dir, "self.pem", &[SELF_SIGNED]);
        assert_eq!(
            tls_config(Some(&path), Some(SELF_SIGNED_SHA256))
                .unwrap_err()
                .details["field"],
            "pin_sha256"
        );
        assert_eq!(
            tls_config(None, Some("nope")).unwrap_err().details["field"],
            "pin_sha256"
        );
    }

    #[tokio::test]
    async fn a_self_signed_certificate_in_the_ca_file_is_trusted_for_its_own_name() {
        let dir = tempfile::tempdir().unwrap();
        let config = tls_config(Some(&pem_file(&dir, "s.pem", &[SELF_SIGNED])), None).unwrap();
        handshake(config.clone(), "localhost", SELF_SIGNED, SELF_SIGNED_KEY)
            .await
            .unwrap();
        // Another name: refused, with the fingerprint of what was seen.
        let e = handshake(
            config.clone(),
            "mail.example.org",
            SELF_SIGNED,
            SELF_SIGNED_KEY,
        )
        .await
        .unwrap_err();
        let why = refusal(&e);
        assert!(why.why.starts_with("NotValidForName"), "{why:?}");
        assert_eq!(why.fingerprint, SELF_SIGNED_SHA256);
        // Another certificate for the same name: not the one given.
        let e = handshake(config.clone(), "localhost", LEAF, LEAF_KEY)
            .await
            .unwrap_err();
        assert!(refusal(&e).why.starts_with("UnknownIssuer"), "{e:?}");
        // The given certificate without its key: the handshake signature fails.
        let e = handshake(config, "localhost", SELF_SIGNED, OTHER_KEY)
            .await
            .unwrap_err();
        assert!(untrusted(&e).is_none(), "{e:?}");
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(CertificateError::BadSignature)
            ),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_ca_in_the_ca_file_signs_the_servers_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let config = tls_config(Some(&pem_file(&dir, "ca.pem", &[CA])), None).unwrap();
        handshake(config.clone(), "localhost", LEAF, LEAF_KEY)
            .await
            .unwrap();
        let e = handshake(config.clone(), "mail.example.org", LEAF, LEAF_KEY)
            .await
            .unwrap_err();
        assert!(refusal(&e).why.starts_with("NotValidForName"), "{e:?}");
        // A self-signed certificate the file does not hold.
        let e = handshake(config, "localhost", SELF_SIGNED, SELF_SIGNED_KEY)
            .await
            .unwrap_err();
        assert_eq!(refusal(&e).fingerprint, SELF_SIGNED_SHA256);
        // A file with both trusts both.
        let both = pem_file(&dir, "both.pem", &[CA, SELF_SIGNED]);
        let config = tls_config(Some(&both), None).unwrap();
        handshake(config.clone(), "localhost", LEAF, LEAF_KEY)
            .await
            .unwrap();
        handshake(config, "localhost", SELF_SIGNED, SELF_SIGNED_KEY)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_pin_trusts_that_certificate_only_and_still_checks_the_name() {
        let config = tls_config(None, Some(&SELF_SIGNED_SHA256.to_lowercase())).unwrap();
        handshake(config.clone(), "localhost", SELF_SIGNED, SELF_SIGNED_KEY)
            .await
            .unwrap();
        let e = handshake(
            config.clone(),
            "mail.example.org",
            SELF_SIGNED,
            SELF_SIGNED_KEY,
        )
        .await
        .unwrap_err();
        assert!(refusal(&e).why.starts_with("NotValidForName"), "{e:?}");
        // A certificate with another fingerprint, even one a CA signed.
        let e = handshake(config, "localhost", LEAF, LEAF_KEY)
            .await
            .unwrap_err();
        let why = refusal(&e);
        assert!(why.why.contains("pin_sha256"), "{why:?}");
        let leaf = CertificateDer::from_pem_slice(LEAF).unwrap();
        assert_eq!(why.fingerprint, fingerprint(leaf.as_ref()));
        assert!(e.to_string().contains(&why.fingerprint), "{e}");
    }

    #[tokio::test]
    async fn without_either_the_mozilla_roots_decide() {
        let config = tls_config(None, None).unwrap();
        let e = handshake(config, "localhost", SELF_SIGNED, SELF_SIGNED_KEY)
            .await
            .unwrap_err();
        let why = refusal(&e);
        assert!(
            why.why.starts_with("CaUsedAsEndEntity") && why.why.contains("self-signed"),
            "{why:?}"
        );
        assert_eq!(why.fingerprint, SELF_SIGNED_SHA256);
        let e = handshake(tls_config(None, None).unwrap(), "localhost", LEAF, LEAF_KEY)
            .await
            .unwrap_err();
        assert!(refusal(&e).why.starts_with("UnknownIssuer"), "{e:?}");
    }
}
