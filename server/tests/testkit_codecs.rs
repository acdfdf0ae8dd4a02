//! podium-testkit cannot depend on the server (the server's tests depend on
//! it), so it keeps a copy of the codecs rooms route, for the routers of the
//! egress tests: this keeps the copy equal to what the server routes with
//! its default `rtc.codecs`.

use podium_server::codecs::media_codecs;
use podium_server::config::Codec;

#[test]
fn the_testkit_router_routes_the_servers_default_codecs() {
    let defaults: toml::Value =
        toml::from_str(include_str!("../../config/default.toml")).expect("default config");
    let codecs: Vec<Codec> = defaults["rtc"]["codecs"]
        .clone()
        .try_into()
        .expect("rtc.codecs");
    assert_eq!(codecs, [Codec::Opus, Codec::Vp8, Codec::H264]);
    assert_eq!(
        podium_testkit::media::router_codecs(),
        media_codecs(&codecs)
    );
}
