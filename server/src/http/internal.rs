//! The internal API nodes of a cluster call on each other (docs/CLUSTER.md):
//! an edge opens its media pipe from a room's home, asks for a producer,
//! announces its peers and its own producers, carries its peers' room-level
//! requests, closes its pipe. Every request is signed with the cluster secret
//! (`podium_cluster::sign_request`), names the calling node, and may only
//! act on that node's own pipe; a node outside a cluster answers 404.

use crate::cascade::Cascade;
use crate::error::{Error, Result};
use crate::ids::PeerId;
use crate::ids::{RoomId, ToMedia};
use crate::room::{EdgeOpened, EdgePeer, EdgeRequest, OpenEdge, PipedProducer};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use podium_cluster::{NODE_HEADER, RequestParts, SIGNATURE_HEADER, TIME_HEADER};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let edge = "/internal/cluster/rooms/{room}/edges/{node}";
    cfg.route(edge, web::post().to(open_edge))
        .route(edge, web::get().to(edge_state))
        .route(edge, web::delete().to(close_edge))
        .route(
            "/internal/cluster/rooms/{room}/edges/{node}/producers/{producer}",
            web::post().to(pipe_producer),
        )
        .route(
            "/internal/cluster/rooms/{room}/edges/{node}/peers",
            web::post().to(add_peer),
        )
        .route(
            "/internal/cluster/rooms/{room}/edges/{node}/peers/{peer}",
            web::delete().to(remove_peer),
        )
        .route(
            "/internal/cluster/rooms/{room}/edges/{node}/incoming",
            web::post().to(pipe_in),
        )
        .route(
            "/internal/cluster/rooms/{room}/edges/{node}/incoming/{producer}",
            web::delete().to(unpipe_in),
        )
        .route(
            "/internal/cluster/rooms/{room}/edges/{node}/requests",
            web::post().to(request),
        )
        .route(
            "/internal/cluster/rooms/{room}/edges/{node}/egress",
            web::post().to(egress),
        )
        .route("/internal/cluster/rooms/{room}/host", web::post().to(host));
}

/// Another node asks this one, the least loaded, to be a new room's home.
async fn host(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<RoomId>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let from = request
        .headers()
        .get(NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let cascade = verified(&state, &request, &body, &from)?;
    cascade.host(&path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::BadRequest(format!("body: {e}")))
}

async fn add_peer(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (room, node) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    let peer: EdgePeer = parse(&body)?;
    state.rooms.get(&room)?.add_edge_peer(&node, peer)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn remove_peer(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String, PeerId)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (room, node, peer) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    if let Ok(room) = state.rooms.get(&room) {
        room.remove_edge_peer(&node, peer);
        state.rooms.release(room.id());
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn pipe_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (room, node) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    let piped: PipedProducer = parse(&body)?;
    state.rooms.get(&room)?.pipe_from_edge(&node, piped).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn unpipe_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String, podium_protocol::ProducerId)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (room, node, producer) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    if let Ok(room) = state.rooms.get(&room) {
        room.unpipe_from_edge(&node, producer.to_media());
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OnBehalf {
    peer_id: PeerId,
    request: EdgeRequest,
}

async fn request(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (room, node) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    let on_behalf: OnBehalf = parse(&body)?;
    let room = state.rooms.get(&room)?;
    room.edge_request(&node, on_behalf.peer_id, on_behalf.request)?;
    // A kick may have taken the last one out.
    state.rooms.release(room.id());
    Ok(HttpResponse::NoContent().finish())
}

/// The cascade, once the request is proven to come from `node` of this cluster.
fn verified(
    state: &AppState,
    request: &HttpRequest,
    body: &[u8],
    node: &str,
) -> Result<Arc<Cascade>> {
    let Some(cascade) = state.cascade.get() else {
        return Err(Error::not_found("route", request.path()));
    };
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Unauthorized(format!("{name} is missing")))
    };
    let (from, time, signature) = (
        header(NODE_HEADER)?,
        header(TIME_HEADER)?,
        header(SIGNATURE_HEADER)?,
    );
    let time_ms = time
        .parse()
        .map_err(|_| Error::Unauthorized(format!("{TIME_HEADER} is not a number")))?;
    let path = request
        .uri()
        .path_and_query()
        .map_or(request.path(), |p| p.as_str());
    let parts = RequestParts {
        method: request.method().as_str(),
        path,
        node: from,
        time_ms,
        body,
    };
    cascade.verify(&parts, signature).map_err(|e| {
        tracing::warn!(from, error = %e, "refused an internal request");
        Error::Unauthorized(e.to_string())
    })?;
    if from != node {
        return Err(Error::Forbidden("a node acts on its own pipes only".into()));
    }
    Ok(Arc::clone(cascade))
}

async fn open_edge(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String)>,
    body: web::Bytes,
) -> Result<web::Json<EdgeOpened>> {
    let (room, node) = path.into_inner();
    let cascade = verified(&state, &request, &body, &node)?;
    let open: OpenEdge = parse(&body)?;
    let room = state.rooms.get(&room)?;
    Ok(web::Json(
        room.open_edge(&node, open, cascade.pipe_options()).await?,
    ))
}

async fn pipe_producer(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String, podium_protocol::ProducerId)>,
    body: web::Bytes,
) -> Result<web::Json<PipedProducer>> {
    let (room, node, producer) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    let room = state.rooms.get(&room)?;
    Ok(web::Json(
        room.pipe_to_edge(&node, producer.to_media()).await?,
    ))
}

async fn close_edge(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (room, node) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    if let Ok(room) = state.rooms.get(&room) {
        room.close_edge(&node);
        state.rooms.release(room.id());
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EgressOnBehalf {
    peer_id: PeerId,
    request: podium_protocol::Request,
}

/// A restream or recording asked by a peer of an edge: run here, the home.
async fn egress(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String)>,
    body: web::Bytes,
) -> Result<web::Json<podium_protocol::ResponseData>> {
    use podium_protocol::Request;
    let (room, node) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    let on_behalf: EgressOnBehalf = parse(&body)?;
    if !matches!(
        on_behalf.request,
        Request::StartRestream { .. }
            | Request::StopRestream { .. }
            | Request::StartRecording { .. }
            | Request::StopRecording {}
    ) {
        return Err(Error::BadRequest(
            "not a restream or recording request".into(),
        ));
    }
    let room = state.rooms.get(&room)?;
    room.check_edge_peer(&node, on_behalf.peer_id)?;
    let answer = crate::signaling::session::egress_request(
        &state,
        &room,
        on_behalf.peer_id,
        on_behalf.request,
    )
    .await?;
    Ok(web::Json(answer))
}

/// The room as an edge must have it (after its bus was away): producers
/// (consumed into its pipe, once), peers, recording.
async fn edge_state(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(RoomId, String)>,
    body: web::Bytes,
) -> Result<web::Json<EdgeOpened>> {
    let (room, node) = path.into_inner();
    verified(&state, &request, &body, &node)?;
    let room = state.rooms.get(&room)?;
    Ok(web::Json(room.edge_state(&node).await?))
}
