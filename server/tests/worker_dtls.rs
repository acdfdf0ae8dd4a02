//! A real ICE + DTLS handshake against the worker, as a browser would do it:
//! a STUN binding request (the worker is ICE-lite), an OpenSSL DTLS 1.2 client
//! offering DTLS-SRTP, then SRTP both ways with the exported keys.
//!
//! Built from Debian's OpenSSL, the worker used to crash on the first DTLS
//! handshake (kernel-TLS BIO query answered wrongly, see README "Building the
//! mediasoup worker offline"); this test is the one that catches it without a
//! browser.

use hmac::{Hmac, Mac};
use mediasoup::prelude::*;
use mediasoup::types::data_structures::{DtlsFingerprint, DtlsRole, DtlsState};
use openssl::hash::MessageDigest;
use openssl::ssl::{Ssl, SslContext, SslMethod, SslVerifyMode};
use podium_testkit::cert;
use podium_testkit::rtp::*;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A connected UDP socket as the byte stream OpenSSL's DTLS reads and writes:
/// one write is one datagram.
#[derive(Debug)]
struct Datagrams(UdpSocket);

impl Read for Datagrams {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.recv(buf)
    }
}

impl Write for Datagrams {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// RFC 8445 connectivity check: USERNAME, PRIORITY, ICE-CONTROLLING,
/// USE-CANDIDATE, MESSAGE-INTEGRITY (the worker's password), FINGERPRINT.
fn stun_binding_request(username: &str, password: &str, transaction: [u8; 12]) -> Vec<u8> {
    fn attribute(msg: &mut Vec<u8>, kind: u16, value: &[u8]) {
        msg.extend_from_slice(&kind.to_be_bytes());
        msg.extend_from_slice(&(value.len() as u16).to_be_bytes());
        msg.extend_from_slice(value);
        msg.resize(msg.len().next_multiple_of(4), 0);
    }
    fn set_length(msg: &mut [u8], extra: usize) {
        let len = (msg.len() - 20 + extra) as u16;
        msg[2..4].copy_from_slice(&len.to_be_bytes());
    }
    let mut msg = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
    msg.extend_from_slice(&transaction);
    attribute(&mut msg, 0x0006, username.as_bytes());
    attribute(&mut msg, 0x0024, &0x6e7f_00ffu32.to_be_bytes());
    attribute(&mut msg, 0x802a, &0x0123_4567_89ab_cdefu64.to_be_bytes());
    attribute(&mut msg, 0x0025, &[]);
    set_length(&mut msg, 24);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(&msg);
    attribute(&mut msg, 0x0008, &mac.finalize().into_bytes());
    set_length(&mut msg, 8);
    let fingerprint = crc32(&msg) ^ 0x5354_554e;
    attribute(&mut msg, 0x8028, &fingerprint.to_be_bytes());
    msg
}

fn sha256_fingerprint(cert: &openssl::x509::X509Ref) -> [u8; 32] {
    cert.digest(MessageDigest::sha256())
        .unwrap()
        .as_ref()
        .try_into()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_style_ice_dtls_and_srtp_against_the_worker() {
    let worker = WorkerManager::new()
        .create_worker(WorkerSettings::default())
        .await
        .unwrap();
    let router = worker
        .create_router(RouterOptions::new(vec![opus_codec()]))
        .await
        .unwrap();
    let listen = loopback_listen_info();
    let transport = router
        .create_webrtc_transport(WebRtcTransportOptions::new(
            WebRtcTransportListenInfos::new(listen),
        ))
        .await
        .unwrap();
    let (dtls_tx, mut dtls_rx) = tokio::sync::mpsc::unbounded_channel();
    let _dtls_handler = transport.on_dtls_state_change(move |state| {
        let _ = dtls_tx.send(state);
    });

    let candidate = &transport.ice_candidates()[0];
    let server = SocketAddr::new(candidate.address.parse().unwrap(), candidate.port);
    let worker_fingerprint = transport
        .dtls_parameters()
        .fingerprints
        .iter()
        .find_map(|f| match f {
            DtlsFingerprint::Sha256 { value } => Some(*value),
            _ => None,
        })
        .expect("the worker offers a sha-256 fingerprint");

    // ICE: one connectivity check nominates our address.
    let socket = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    socket.connect(server).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let ice = transport.ice_parameters();
    let request = stun_binding_request(
        &format!("{}:podiumclient", ice.username_fragment),
        &ice.password,
        *b"podium-test1",
    );
    socket.send(&request).unwrap();
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).unwrap();
    assert!(
        n >= 20 && buf[0..2] == [0x01, 0x01],
        "binding success response"
    );
    assert_eq!(&buf[8..20], b"podium-test1");

    // DTLS: the worker is the server, we the client, each checking the other's fingerprint.
    let (cert, key) = cert::self_signed("podium-test");
    transport
        .connect(WebRtcTransportRemoteParameters {
            dtls_parameters: DtlsParameters {
                role: DtlsRole::Client,
                fingerprints: vec![DtlsFingerprint::Sha256 {
                    value: sha256_fingerprint(&cert),
                }],
            },
        })
        .await
        .unwrap();
    let media_socket = socket.try_clone().unwrap();
    let (profile_name, keying) = tokio::task::spawn_blocking(move || {
        let mut ctx = SslContext::builder(SslMethod::dtls()).unwrap();
        ctx.set_certificate(&cert).unwrap();
        ctx.set_private_key(&key).unwrap();
        ctx.set_tlsext_use_srtp("SRTP_AEAD_AES_256_GCM:SRTP_AES128_CM_SHA1_80")
            .unwrap();
        ctx.set_verify_callback(SslVerifyMode::PEER, move |_, store| {
            // Self-signed: trust is the fingerprint signaled out of band.
            store
                .current_cert()
                .is_some_and(|c| sha256_fingerprint(c) == worker_fingerprint)
        });
        let mut ssl = Ssl::new(&ctx.build()).unwrap();
        ssl.set_mtu(1200).unwrap();
        let stream = ssl
            .connect(Datagrams(socket))
            .expect("DTLS handshake with the worker");
        let ssl = stream.ssl();
        assert_eq!(ssl.version_str(), "DTLSv1.2");
        let profile = ssl
            .selected_srtp_profile()
            .expect("DTLS-SRTP negotiated")
            .name()
            .to_owned();
        let mut keying = vec![0u8; 2 * (32 + 12)];
        ssl.export_keying_material(&mut keying, "EXTRACTOR-dtls_srtp", None)
            .unwrap();
        (profile, keying)
    })
    .await
    .unwrap();
    assert_eq!(
        profile_name, "SRTP_AEAD_AES_256_GCM",
        "the strongest suite both offer"
    );
    let state = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match dtls_rx.recv().await {
                Some(DtlsState::Connected) => return DtlsState::Connected,
                Some(DtlsState::Failed | DtlsState::Closed) | None => return DtlsState::Failed,
                Some(_) => continue,
            }
        }
    })
    .await
    .expect("DTLS state settles");
    assert_eq!(
        state,
        DtlsState::Connected,
        "the worker completed the handshake"
    );

    // RFC 5764 key layout: client key | server key | client salt | server salt.
    let (client_key, rest) = keying.split_at(32);
    let (server_key, rest) = rest.split_at(32);
    let (client_salt, server_salt) = rest.split_at(12);
    let profile = ProtectionProfile::AeadAes256Gcm;
    let mut encrypt = Context::new(client_key, client_salt, profile, None, None).unwrap();
    let mut decrypt = Context::new(server_key, server_salt, profile, None, None).unwrap();

    // SRTP both ways: our producer, consumed on the same transport.
    let ssrc = 0x1234_5678;
    let producer = transport
        .produce(ProducerOptions::new(
            MediaKind::Audio,
            opus_send_parameters(ssrc),
        ))
        .await
        .unwrap();
    let mut options = ConsumerOptions::new(producer.id(), opus_receive_capabilities());
    options.paused = false;
    let _consumer = transport.consume(options).await.unwrap();

    let sent: Vec<Vec<u8>> = (1..=40u16)
        .map(|i| format!("dtls-srtp {i}").into_bytes())
        .collect();
    let receiver = media_socket.try_clone().unwrap();
    let collect = std::thread::spawn(move || {
        receiver
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let (mut got, mut buf) = (Vec::new(), [0u8; 1500]);
        let deadline = std::time::Instant::now() + Duration::from_secs(8);
        while got.len() < 40 && std::time::Instant::now() < deadline {
            if let Ok(n) = receiver.recv(&mut buf)
                && !is_rtcp(&buf[..n])
                && n > 12
                && buf[0] >> 6 == 2
            {
                let plain = decrypt
                    .decrypt_rtp(&buf[..n])
                    .expect("worker SRTP with DTLS keys decrypts");
                got.push(rtp_payload(&plain).to_vec());
            }
        }
        got
    });
    for (i, payload) in sent.iter().enumerate() {
        let seq = i as u16 + 1;
        let packet = rtp_packet(OPUS_PT, seq, u32::from(seq) * 960, ssrc, payload);
        media_socket
            .send(&encrypt.encrypt_rtp(&packet).unwrap())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let received = collect.join().unwrap();
    assert_eq!(
        received, sent,
        "media crosses the worker with the DTLS-exported keys"
    );
}
