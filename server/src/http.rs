//! HTTP: health, metrics, the admin API (guarded by the admin key), dev-mode
//! tokens, the signaling WebSocket and the browser pages.

use crate::app::AppState;
use crate::auth::{Claims, Role, admin_key_matches, unix_now};
use crate::error::{Error, Result};
use crate::ids::{PeerId, RoomId};
use crate::restream::StartRestream;
use crate::signaling::session;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use podium_egress::DestinationSpec;
use serde::{Deserialize, Serialize};
use std::future::{Ready, ready};
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
        .route("/api/admin/rooms/{room}", web::get().to(get_room))
        .route(
            "/api/admin/rooms/{room}/peers/{peer}",
            web::delete().to(kick_peer),
        )
        .route(
            "/api/admin/rooms/{room}/restreams",
            web::post().to(start_restream),
        )
        .route("/api/admin/restreams", web::get().to(list_restreams))
        .route("/api/admin/restreams/{id}", web::get().to(get_restream))
        .route("/api/admin/restreams/{id}", web::delete().to(stop_restream))
        .route(
            "/api/admin/restreams/{id}/destinations",
            web::post().to(add_destination),
        )
        .route(
            "/api/admin/restreams/{id}/destinations/{destination}",
            web::delete().to(remove_destination),
        );
    if static_dir.is_dir() {
        cfg.service(actix_files::Files::new("/", static_dir).index_file("index.html"));
    }
}

type State = web::Data<AppState>;

/// Passes when the request carries `Authorization: Bearer <admin key>`.
pub struct Admin;

impl FromRequest for Admin {
    type Error = Error;
    type Future = Ready<Result<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<State>().expect("state is registered");
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        ready(match given {
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
    let body = serde_json::json!({
        "status": if alive > 0 { "ok" } else { "degraded" },
        "workers": { "alive": alive, "total": workers.len() },
        "rooms": state.rooms.all().len(),
    });
    if alive > 0 {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render(&state))
}

async fn info(state: State) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "name": "podium",
        "version": env!("CARGO_PKG_VERSION"),
        "devMode": state.config.auth.dev_mode,
    }))
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn websocket(
    req: HttpRequest,
    body: web::Payload,
    state: State,
    query: web::Query<WsQuery>,
) -> actix_web::Result<HttpResponse> {
    let token = query
        .token
        .as_deref()
        .ok_or_else(|| Error::Unauthorized("a token is required (?token=...)".into()))?;
    let claims = state.tokens.verify(token, unix_now())?;
    claims.validate()?;
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream
        .max_frame_size(session::HARD_FRAME_LIMIT)
        .aggregate_continuations()
        .max_continuation_size(session::HARD_FRAME_LIMIT);
    let app = state.into_inner();
    actix_web::rt::spawn(session::run(session, stream, app, claims));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    pub room: RoomId,
    pub user: Option<String>,
    pub name: String,
    pub role: Role,
    /// Lifetime in seconds; the configured default if absent.
    pub ttl_secs: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    pub expires_at: u64,
    /// The page this role opens, with the token.
    pub url: String,
}

fn mint(state: &AppState, req: &HttpRequest, body: TokenRequest) -> Result<TokenResponse> {
    let ttl = body.ttl_secs.unwrap_or(state.config.auth.token_ttl_secs);
    if ttl == 0 || ttl > 7 * 24 * 3600 {
        return Err(Error::BadRequest(
            "ttlSecs must be between 1 and 604800".into(),
        ));
    }
    let claims = Claims {
        room: body.room,
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
    let info = req.connection_info();
    Ok(TokenResponse {
        url: format!("{}://{}/{page}#token={token}", info.scheme(), info.host()),
        token,
        expires_at: claims.exp,
    })
}

async fn issue_token(
    _: Admin,
    state: State,
    req: HttpRequest,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    tracing::info!(room = %body.room, role = ?body.role, "join token issued");
    Ok(HttpResponse::Ok().json(mint(&state, &req, body)?))
}

#[derive(Debug, Deserialize)]
struct DevTokenQuery {
    room: RoomId,
    name: String,
    role: Role,
}

/// Dev mode only: a token for anyone who asks (the pages' join form uses it).
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
    let q = query.into_inner();
    let body = TokenRequest {
        room: q.room,
        user: None,
        name: q.name,
        role: q.role,
        ttl_secs: None,
    };
    let mut response = serde_json::to_value(mint(&state, &req, body)?).expect("serializes");
    if q.role == Role::Admin {
        // The admin page also needs the admin key, which dev mode hands out too.
        response["adminKey"] = state.admin_key.expose().into();
    }
    Ok(HttpResponse::Ok().json(response))
}

async fn list_rooms(_: Admin, state: State) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "rooms": state.rooms.summaries() }))
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

fn parse_id<T: std::str::FromStr>(kind: &str, raw: &str) -> Result<T> {
    raw.parse()
        .map_err(|_| Error::BadRequest(format!("{raw:?} is not a {kind} id")))
}

async fn start_restream(
    _: Admin,
    state: State,
    path: web::Path<String>,
    body: web::Json<StartRestream>,
) -> Result<HttpResponse> {
    let room = state.rooms.get(&room_id(&path)?)?;
    let status = state.restreams.start(&room, body.into_inner()).await?;
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
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "restreams": state.restreams.list(room.as_ref()) })))
}

async fn get_restream(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.restreams.get(parse_id("restream", &path)?)?))
}

async fn stop_restream(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    state.restreams.stop(parse_id("restream", &path)?).await?;
    Ok(HttpResponse::NoContent().finish())
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
    Ok(HttpResponse::Created().json(serde_json::json!({ "destinationId": id })))
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
