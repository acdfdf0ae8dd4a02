//! The internal API nodes of a cluster call on each other (docs/CLUSTER.md):
//! an edge opens its media pipe from a room's home, asks for a producer,
//! closes its pipe. Every request is signed with the cluster secret
//! (`podium_cluster::sign_request`), names the calling node, and may only
//! act on that node's own pipe; a node outside a cluster answers 404.

use crate::cascade::Cascade;
use crate::error::{Error, Result};
use crate::ids::{RoomId, ToMedia};
use crate::room::{EdgeOpened, PipeEnd, PipedProducer};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use podium_cluster::{NODE_HEADER, RequestParts, SIGNATURE_HEADER, TIME_HEADER};
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let edge = "/internal/cluster/rooms/{room}/edges/{node}";
    cfg.route(edge, web::post().to(open_edge))
        .route(edge, web::delete().to(close_edge))
        .route(
            "/internal/cluster/rooms/{room}/edges/{node}/producers/{producer}",
            web::post().to(pipe_producer),
        );
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
    podium_cluster::verify_request(
        cascade.secret(),
        &parts,
        signature,
        podium_cluster::now_ms(),
    )
    .map_err(|e| {
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
    let remote: PipeEnd =
        serde_json::from_slice(&body).map_err(|e| Error::BadRequest(format!("pipe: {e}")))?;
    let room = state.rooms.get(&room)?;
    Ok(web::Json(
        room.open_edge(&node, remote, cascade.pipe_options())
            .await?,
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
    }
    Ok(HttpResponse::NoContent().finish())
}
