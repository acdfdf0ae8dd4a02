//! Self-signed certificates for tests: the server's TLS, DTLS against the
//! worker, nginx configs checked with `nginx -t`, and the RTMPS ingest.

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A P-256 key and a certificate for `common_name`, valid for a day, with
/// no extensions.
pub fn self_signed(common_name: &str) -> (X509, PKey<Private>) {
    build(common_name, &[])
}

/// As [`self_signed`], for `alt_names` too (each an IP address or a DNS
/// name), with the extensions `openssl req -x509` adds: what a TLS client
/// checking the host name needs.
pub fn self_signed_for(common_name: &str, alt_names: &[&str]) -> (X509, PKey<Private>) {
    build(common_name, alt_names)
}

/// Writes `cert.pem` and `key.pem` (PKCS#8) into `dir`; returns their paths.
pub fn write_pem(cert: &X509, key: &PKey<Private>, dir: &Path) -> (PathBuf, PathBuf) {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert_path, key_path)
}

fn build(common_name: &str, alt_names: &[&str]) -> (X509, PKey<Private>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    let serial = BigNum::from_u32(rand::random::<u32>()).unwrap();
    cert.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    if !alt_names.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for alt in alt_names {
            if alt.parse::<IpAddr>().is_ok() {
                san.ip(alt);
            } else {
                san.dns(alt);
            }
        }
        let context = cert.x509v3_context(None, None);
        let san = san.build(&context).unwrap();
        let subject_key = SubjectKeyIdentifier::new().build(&context).unwrap();
        cert.append_extension(san).unwrap();
        cert.append_extension(subject_key).unwrap();
        let context = cert.x509v3_context(None, None);
        let authority_key = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&context)
            .unwrap();
        cert.append_extension(authority_key).unwrap();
        cert.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    }
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (cert.build(), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_names_are_in_the_certificate() {
        let (cert, key) = self_signed_for("localhost", &["ingest.podium.test", "127.0.0.1"]);
        assert!(cert.verify(&key).unwrap());
        let names = cert.subject_alt_names().expect("SAN");
        let dns: Vec<_> = names.iter().filter_map(|n| n.dnsname()).collect();
        let ips: Vec<_> = names.iter().filter_map(|n| n.ipaddress()).collect();
        assert_eq!(dns, ["ingest.podium.test"]);
        assert_eq!(ips, [&[127, 0, 0, 1][..]]);
        assert!(self_signed("x").0.subject_alt_names().is_none());
    }
}
