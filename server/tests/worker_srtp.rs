//! Proves the offline worker build encrypts and decrypts SRTP/SRTCP right:
//! the worker (libsrtp 2.5.0 behind Podium's libsrtp 3 compatibility layer)
//! against an independent implementation (the `webrtc-srtp` crate), for every
//! crypto suite mediasoup offers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mediasoup::prelude::*;
use mediasoup::types::srtp_parameters::SrtpParameters;
use podium_testkit::rtp::*;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn profile(suite: SrtpCryptoSuite) -> ProtectionProfile {
    match suite {
        SrtpCryptoSuite::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        SrtpCryptoSuite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpCryptoSuite::AesCm128HmacSha180 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpCryptoSuite::AesCm128HmacSha132 => ProtectionProfile::Aes128CmHmacSha1_32,
    }
}

fn context(suite: SrtpCryptoSuite, key_and_salt: &[u8]) -> Context {
    let p = profile(suite);
    let (key, salt) = key_and_salt.split_at(p.key_len());
    assert_eq!(salt.len(), p.salt_len(), "{suite:?} key material length");
    Context::new(key, salt, p, None, None).expect("webrtc-srtp accepts the key")
}

fn random_key(suite: SrtpCryptoSuite) -> Vec<u8> {
    let p = profile(suite);
    (0..p.key_len() + p.salt_len())
        .map(|_| rand::random::<u8>())
        .collect()
}

async fn round_trip(router: &Router, suite: SrtpCryptoSuite) {
    let ssrc = 0x5000_0000 + suite as u32;
    // Ingress: we encrypt with our key, the worker decrypts.
    let mut options = PlainTransportOptions::new(loopback_listen_info());
    options.rtcp_mux = true;
    options.comedia = true;
    options.enable_srtp = true;
    options.srtp_crypto_suite = suite;
    let ingress = router
        .create_plain_transport(options.clone())
        .await
        .unwrap();
    let send_key = random_key(suite);
    ingress
        .connect(PlainTransportRemoteParameters {
            ip: None,
            port: None,
            rtcp_port: None,
            srtp_parameters: Some(SrtpParameters {
                crypto_suite: suite,
                key_base64: B64.encode(&send_key),
            }),
        })
        .await
        .unwrap();
    let producer = ingress
        .produce(ProducerOptions::new(
            MediaKind::Audio,
            opus_send_parameters(ssrc),
        ))
        .await
        .unwrap();

    // Egress: the worker encrypts with its key, we decrypt.
    let receiver = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    options.comedia = false;
    let egress = router.create_plain_transport(options).await.unwrap();
    egress
        .connect(PlainTransportRemoteParameters {
            ip: Some(LOCALHOST),
            port: Some(receiver.local_addr().unwrap().port()),
            rtcp_port: None,
            srtp_parameters: Some(SrtpParameters {
                crypto_suite: suite,
                key_base64: B64.encode(random_key(suite)),
            }),
        })
        .await
        .unwrap();
    let mut consumer_options = ConsumerOptions::new(producer.id(), opus_receive_capabilities());
    consumer_options.paused = false;
    let _consumer = egress.consume(consumer_options).await.unwrap();
    let worker_key = B64
        .decode(egress.srtp_parameters().expect("SRTP enabled").key_base64)
        .unwrap();

    let sender = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let target = SocketAddr::new(LOCALHOST, ingress.tuple().local_port());
    let mut encrypt = context(suite, &send_key);
    let mut decrypt = context(suite, &worker_key);

    // A forged packet (right header, wrong tag) must never come through.
    let forged = {
        let mut p = encrypt
            .encrypt_rtp(&rtp_packet(OPUS_PT, 0, 0, ssrc, b"forged"))
            .unwrap()
            .to_vec();
        let last = p.len() - 1;
        p[last] ^= 0xff;
        p
    };
    sender.send_to(&forged, target).await.unwrap();

    let mut sent = HashSet::new();
    for seq in 1..=60u16 {
        let payload = format!("podium {suite:?} packet {seq}").into_bytes();
        let packet = rtp_packet(OPUS_PT, seq, u32::from(seq) * 960, ssrc, &payload);
        sender
            .send_to(&encrypt.encrypt_rtp(&packet).unwrap(), target)
            .await
            .unwrap();
        sent.insert(payload);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (mut received, mut rtcp, mut buf) = (HashSet::new(), 0, vec![0u8; 2048]);
    let deadline = Instant::now() + Duration::from_secs(12);
    while Instant::now() < deadline && (received.len() < sent.len() || rtcp == 0) {
        let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(500), receiver.recv(&mut buf)).await
        else {
            continue;
        };
        let packet = &buf[..n];
        if is_rtcp(packet) {
            decrypt
                .decrypt_rtcp(packet)
                .expect("the worker's SRTCP decrypts");
            rtcp += 1;
        } else {
            let plain = decrypt
                .decrypt_rtp(packet)
                .expect("the worker's SRTP decrypts");
            let payload = rtp_payload(&plain).to_vec();
            assert!(
                payload != b"forged",
                "{suite:?}: a forged packet got through"
            );
            received.insert(payload);
        }
    }
    assert_eq!(
        received, sent,
        "{suite:?}: every packet crosses the worker intact"
    );
    assert!(
        rtcp > 0,
        "{suite:?}: the worker's SRTCP (sender reports) decrypts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_srtp_interoperates_with_an_independent_implementation() {
    let worker = WorkerManager::new()
        .create_worker(WorkerSettings::default())
        .await
        .unwrap();
    let router = worker
        .create_router(RouterOptions::new(vec![opus_codec()]))
        .await
        .unwrap();
    tokio::join!(
        round_trip(&router, SrtpCryptoSuite::AeadAes256Gcm),
        round_trip(&router, SrtpCryptoSuite::AeadAes128Gcm),
        round_trip(&router, SrtpCryptoSuite::AesCm128HmacSha180),
        round_trip(&router, SrtpCryptoSuite::AesCm128HmacSha132),
    );
}
