//! HTTP: health, metrics, the admin API (guarded by the admin key), dev-mode
//! tokens, the signaling WebSocket and the browser pages.

use crate::auth::{Claims, Role, admin_key_matches, unix_now};
use crate::error::{Error, Result};
use crate::ids::{PeerId, RoomId};
use crate::restream::{Requester, StartRestream};
use crate::signaling::session;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use podium_egress::DestinationSpec;
use podium_protocol::admin::{DestinationAdded, RestreamList, RoomList, SetLayout};
use serde::Deserialize;
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::path::Path;

pub fn routes(cfg: &mut web::ServiceConfig, static_dir: &Path) {
    // Extractor failures answer in the API's JSON error shape too.
    let json = web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|e, _| Error::BadRequest(e.to_string()).into());
    let query =
        web::QueryConfig::default().error_handler(|e, _| Error::BadRequest(e.to_string()).into());
    cfg.app_data(json)
        .app_data(query)
        .route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics))
        .route("/ws", web::get().to(websocket))
        .route("/api/info", web::get().to(info))
        .route("/api/dev/token", web::get().to(dev_token))
        .route("/api/admin/tokens", web::post().to(issue_token))
        .route("/api/admin/rooms", web::get().to(list_rooms))
        .route("/api/admin/cluster", web::get().to(get_cluster))
        .route("/api/admin/rooms/{room}", web::get().to(get_room))
        .route(
            "/api/admin/rooms/{room}/peers/{peer}",
            web::delete().to(kick_peer),
        )
        .route(
            "/api/admin/rooms/{room}/bans/{user}",
            web::delete().to(lift_ban),
        )
        .route(
            "/api/admin/rooms/{room}/restreams",
            web::post().to(start_restream),
        )
        .route("/api/admin/restreams", web::get().to(list_restreams))
        .route("/api/admin/restreams/{id}", web::get().to(get_restream))
        .route("/api/admin/restreams/{id}", web::delete().to(stop_restream))
        .route(
            "/api/admin/restreams/{id}/layout",
            web::put().to(set_restream_layout),
        )
        .route(
            "/api/admin/restreams/{id}/destinations",
            web::post().to(add_destination),
        )
        .route(
            "/api/admin/restreams/{id}/destinations/{destination}",
            web::delete().to(remove_destination),
        )
        .configure(recordings::routes)
        .configure(internal::routes);
    if static_dir.is_dir() {
        cfg.service(actix_files::Files::new("/", static_dir).index_file("index.html"));
    }
}

mod internal;
mod recordings;

type State = web::Data<AppState>;

/// The pages load only their own scripts and styles, connect only to this
/// origin (the WebSocket included), and are never framed; no referrer leaks.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Headers on every response (pages and API alike).
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// Passes when the request carries `Authorization: Bearer <admin key>`.
pub struct Admin;

impl FromRequest for Admin {
    type Error = Error;
    type Future = Ready<Result<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<State>().expect("state is registered");
        ready(match bearer(req) {
            Some(key) if admin_key_matches(&state.admin_key, key) => Ok(Admin),
            _ => Err(Error::Unauthorized(
                "admin key required (Authorization: Bearer <key>)".into(),
            )),
        })
    }
}

async fn health(state: State) -> HttpResponse {
    let workers = state.pool.stats();
    let alive = workers.iter().filter(|w| w.alive).count();
    let draining = state.is_draining();
    let status = match (alive > 0, draining) {
        (false, _) => "degraded",
        (true, true) => "draining",
        (true, false) => "ok",
    };
    let body = serde_json::json!({
        "status": status,
        "workers": { "alive": alive, "total": workers.len() },
        "rooms": state.rooms.all().len(),
    });
    if status == "ok" {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `/metrics` names rooms and restreams: it takes `http.metrics_token`, or
/// the admin key when no metrics token is configured.
async fn metrics(state: State, req: HttpRequest) -> Result<HttpResponse> {
    let given = bearer(&req);
    let key = match state.config.http.metrics_token.is_empty() {
        true => &state.admin_key,
        false => &state.config.http.metrics_token,
    };
    if !given.is_some_and(|given| admin_key_matches(key, given)) {
        return Err(Error::Unauthorized(
            "metrics take Authorization: Bearer <http.metrics_token or admin key>".into(),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render(&state)))
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn info(state: State) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "name": "podium",
        "version": env!("CARGO_PKG_VERSION"),
        "devMode": state.config.auth.dev_mode,
    }))
}

/// The WebSocket subprotocol pages and tools speak; the token travels as a
/// second offered subprotocol, [`TOKEN_PROTOCOL_PREFIX`]`<token>`, so that it
/// never sits in a URL (proxies log those).
pub const WS_PROTOCOL: &str = "podium";
pub const TOKEN_PROTOCOL_PREFIX: &str = "podium.token.";

/// The join token of a WebSocket request: an offered subprotocol
/// `podium.token.<token>`, or `Authorization: Bearer <token>` (tools).
/// Tokens in the query string are refused.
fn request_token(req: &HttpRequest) -> Result<&str> {
    if req
        .query_string()
        .split('&')
        .any(|p| p.starts_with("token="))
    {
        return Err(Error::Unauthorized(
            "tokens in URLs are refused (proxies log them): offer the WebSocket subprotocol \
             podium.token.<token> or send Authorization: Bearer <token>"
                .into(),
        ));
    }
    offered_protocols(req)
        .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX))
        .or_else(|| bearer(req))
        .ok_or_else(|| {
            Error::Unauthorized(
                "a join token is required: WebSocket subprotocol podium.token.<token> \
             or Authorization: Bearer <token>"
                    .into(),
            )
        })
}

/// The WebSocket subprotocols a request offers.
fn offered_protocols(req: &HttpRequest) -> impl Iterator<Item = &str> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The client's address: the TCP peer, or behind a trusted reverse proxy the
/// last `X-Forwarded-For` hop (the one the proxy added).
fn client_ip(state: &AppState, req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    // Only a proxy on this host is believed: anyone else could claim any address.
    if state.config.http.trust_forwarded_for
        && peer.is_loopback()
        && let Some(ip) = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|hop| hop.trim().parse().ok())
    {
        return Some(ip);
    }
    Some(peer)
}

async fn websocket(
    req: HttpRequest,
    body: web::Payload,
    state: State,
) -> actix_web::Result<HttpResponse> {
    let claims = state.tokens.verify(request_token(&req)?, unix_now())?;
    claims.validate()?;
    let slot = state.connection_slot(client_ip(&state, &req))?;
    let (mut response, session, stream) = actix_ws::handle(&req, body)?;
    if offered_protocols(&req).any(|p| p == WS_PROTOCOL) {
        // A browser that offered subprotocols needs one of them chosen.
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            header::HeaderValue::from_static(WS_PROTOCOL),
        );
    }
    let stream = stream
        .max_frame_size(session::HARD_FRAME_LIMIT)
        .aggregate_continuations()
        .max_continuation_size(session::HARD_FRAME_LIMIT);
    let app = state.into_inner();
    actix_web::rt::spawn(session::run(session, stream, app, claims, slot));
    Ok(response)
}

pub use podium_protocol::admin::{IssuedToken, TokenRequest};

fn mint(state: &AppState, body: TokenRequest) -> Result<IssuedToken> {
    let ttl = body.ttl_secs.unwrap_or(state.config.auth.token_ttl_secs);
    if ttl == 0 || ttl > 7 * 24 * 3600 {
        return Err(Error::BadRequest(
            "ttlSecs must be between 1 and 604800".into(),
        ));
    }
    let claims = Claims {
        room: room_id(&body.room)?,
        user: body.user.unwrap_or_else(|| PeerId::new().to_string()),
        name: body.name,
        role: body.role,
        exp: unix_now() + ttl,
    };
    claims.validate()?;
    let token = state.tokens.issue(&claims);
    let page = match claims.role {
        Role::Teacher => "teacher.html",
        Role::Student => "student.html",
        Role::Admin => "admin.html",
    };
    Ok(IssuedToken {
        url: format!("{}/{page}#token={token}", state.public_base_url()),
        token,
        expires_at: claims.exp,
    })
}

async fn issue_token(
    _: Admin,
    state: State,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let (room, role) = (room_id(&body.room)?, body.role);
    let issued = mint(&state, body)?;
    tracing::info!(%room, ?role, "join token issued");
    Ok(HttpResponse::Ok().json(issued))
}

#[derive(Debug, Deserialize)]
struct DevTokenQuery {
    room: RoomId,
    name: String,
    role: Role,
}

/// The header that carries the dev secret (`auth.dev_secret`).
pub const DEV_SECRET_HEADER: &str = "x-podium-dev";

/// Dev mode only: a token for whoever holds the start link (the start page's
/// join form uses it). Never the admin key: that is printed at start-up only.
/// [`dev_mode_guard`] has checked the request is local; the secret stops a
/// proxy on this host that makes remote requests look local.
async fn dev_token(
    state: State,
    req: HttpRequest,
    query: web::Query<DevTokenQuery>,
) -> Result<HttpResponse> {
    if !state.config.auth.dev_mode {
        return Err(Error::not_found(
            "route",
            "/api/dev/token (dev mode is off)",
        ));
    }
    let given = req
        .headers()
        .get(DEV_SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !admin_key_matches(&state.dev_secret, given) {
        return Err(Error::Unauthorized(
            "dev tokens need the start link printed at start-up (header X-Podium-Dev)".into(),
        ));
    }
    let q = query.into_inner();
    let body = TokenRequest {
        room: q.room.to_string(),
        user: None,
        name: q.name,
        role: q.role,
        ttl_secs: None,
    };
    Ok(HttpResponse::Ok().json(mint(&state, body)?))
}

/// In dev mode every request must come straight from this machine (see
/// `local_request`): a dev server behind a proxy, or read by a
/// DNS-rebinding page, answers nothing.
pub async fn dev_mode_guard(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> actix_web::Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>> {
    let dev_mode = req
        .app_data::<State>()
        .is_some_and(|state| state.config.auth.dev_mode);
    if dev_mode && let Err(error) = local_request(req.request()) {
        return Ok(req.error_response(error));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Dev mode's requests come straight from a browser on this machine: the
/// Host names a loopback address (a DNS-rebinding page has its own name
/// there) and no proxy forwarded them (a proxy on the host would make every
/// internet client look local).
fn local_request(req: &HttpRequest) -> Result<()> {
    let forwarded = req.headers().keys().any(|name| {
        let name = name.as_str();
        name == "forwarded" || name.starts_with("x-forwarded-") || name == "x-real-ip"
    });
    if forwarded {
        return Err(Error::Forbidden(
            "dev mode serves local browsers only: this request came through a proxy".into(),
        ));
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !is_loopback_host(host) {
        return Err(Error::Forbidden(
            "dev mode serves local browsers only: the Host is not a loopback name".into(),
        ));
    }
    Ok(())
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(ip, _)| ip),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn list_rooms(_: Admin, state: State) -> HttpResponse {
    HttpResponse::Ok().json(RoomList {
        rooms: state.rooms.summaries(),
    })
}

/// `{"node": <this node's id>, "nodes": [...]}` in a cluster;
/// `{"node": null, "nodes": []}` for a node alone; 503 when Redis does
/// not answer.
async fn get_cluster(_: Admin, state: State) -> Result<HttpResponse> {
    let Some(membership) = state.cluster.get() else {
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "node": null, "nodes": [] })));
    };
    let nodes = membership
        .nodes()
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "node": membership.id(), "nodes": nodes })))
}

fn room_id(raw: &str) -> Result<RoomId> {
    RoomId::parse(raw).map_err(Error::BadRequest)
}

async fn get_room(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    let room = state.rooms.get(&room_id(&path)?)?;
    Ok(HttpResponse::Ok().json(room.summary()))
}

async fn kick_peer(
    _: Admin,
    state: State,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (room, peer) = path.into_inner();
    let room = state.rooms.get(&room_id(&room)?)?;
    let peer: PeerId = peer
        .parse()
        .map_err(|_| Error::BadRequest(format!("{peer:?} is not a peer id")))?;
    room.kick_by_admin(peer)?;
    state.rooms.release(room.id());
    Ok(HttpResponse::NoContent().finish())
}

async fn lift_ban(
    _: Admin,
    state: State,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (room, user) = path.into_inner();
    state.rooms.lift_ban(&room_id(&room)?, &user)?;
    tracing::info!(room = %room, "ban lifted");
    Ok(HttpResponse::NoContent().finish())
}

fn parse_id<T: std::str::FromStr>(kind: &str, raw: &str) -> Result<T> {
    raw.parse()
        .map_err(|_| Error::BadRequest(format!("{raw:?} is not a {kind} id")))
}

async fn start_restream(
    _: Admin,
    state: State,
    path: web::Path<String>,
    body: web::Json<podium_protocol::admin::StartRestream>,
) -> Result<HttpResponse> {
    let room = state.rooms.get(&room_id(&path)?)?;
    let status = state
        .restreams
        .start(
            &room,
            StartRestream::from(body.into_inner()),
            Requester::Admin,
        )
        .await?;
    Ok(HttpResponse::Created().json(status))
}

#[derive(Deserialize)]
struct RestreamQuery {
    room: Option<String>,
}

async fn list_restreams(
    _: Admin,
    state: State,
    query: web::Query<RestreamQuery>,
) -> Result<HttpResponse> {
    let room = query.room.as_deref().map(room_id).transpose()?;
    Ok(HttpResponse::Ok().json(RestreamList {
        restreams: state.restreams.list(room.as_ref()),
    }))
}

async fn get_restream(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.restreams.get(parse_id("restream", &path)?)?))
}

async fn stop_restream(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    state.restreams.stop(parse_id("restream", &path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_restream_layout(
    _: Admin,
    state: State,
    path: web::Path<String>,
    body: web::Json<SetLayout>,
) -> Result<HttpResponse> {
    let status = state
        .restreams
        .set_layout(parse_id("restream", &path)?, body.layout)
        .await?;
    Ok(HttpResponse::Ok().json(status))
}

async fn add_destination(
    _: Admin,
    state: State,
    path: web::Path<String>,
    body: web::Json<DestinationSpec>,
) -> Result<HttpResponse> {
    let id = state
        .restreams
        .add_destination(parse_id("restream", &path)?, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(DestinationAdded { destination_id: id }))
}

async fn remove_destination(
    _: Admin,
    state: State,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, destination) = path.into_inner();
    state
        .restreams
        .remove_destination(
            parse_id("restream", &id)?,
            parse_id("destination", &destination)?,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
