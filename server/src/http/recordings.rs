//! The recordings' HTTP API (admin key), and the file served by a signed link
//! (no key: for the browser's own player and downloads). Files are served
//! with HTTP Range, so players seek.

use super::{Admin, State, parse_id, room_id};
use crate::error::{Error, Result};
use crate::recording::StartRecording;
use crate::restream::Requester;
use actix_files::NamedFile;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use podium_protocol::RecordingId;
use podium_protocol::admin::SetLayout;
use podium_protocol::recording::{AutoRecord, RecordingList, RecordingStarted};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/rooms/{room}/recordings", web::post().to(start))
        .route(
            "/api/admin/rooms/{room}/auto-record",
            web::put().to(auto_record),
        )
        .route("/api/admin/recordings", web::get().to(list))
        .route("/api/admin/recordings/{id}", web::get().to(get))
        .route("/api/admin/recordings/{id}", web::delete().to(delete))
        .route("/api/admin/recordings/{id}/stop", web::post().to(stop))
        .route(
            "/api/admin/recordings/{id}/layout",
            web::put().to(set_layout),
        )
        .route("/api/admin/recordings/{id}/link", web::post().to(link))
        .route("/api/admin/recordings/{id}/file", web::get().to(admin_file))
        .route("/api/recordings/{id}/file", web::get().to(linked_file));
}

fn recording_id(raw: &str) -> Result<RecordingId> {
    parse_id("recording", raw)
}

/// The body is optional: none (or `{}`) records the teacher's defaults.
async fn start(
    _: Admin,
    state: State,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let request: podium_protocol::recording::StartRecording =
        if body.iter().all(u8::is_ascii_whitespace) {
            Default::default()
        } else {
            serde_json::from_slice(&body).map_err(|e| Error::BadRequest(e.to_string()))?
        };
    let room = state.rooms.get(&room_id(&path)?)?;
    let recording = state
        .recordings
        .start(&room, StartRecording::from(request), Requester::Admin)
        .await?;
    Ok(HttpResponse::Created().json(RecordingStarted { recording }))
}

async fn auto_record(
    _: Admin,
    state: State,
    path: web::Path<String>,
    body: web::Json<AutoRecord>,
) -> Result<HttpResponse> {
    let room = room_id(&path)?;
    state.recordings.set_auto(&room, body.enabled);
    tracing::info!(%room, enabled = body.enabled, "automatic recording set");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct ListQuery {
    room: Option<String>,
}

async fn list(_: Admin, state: State, query: web::Query<ListQuery>) -> Result<HttpResponse> {
    let room = query.room.as_deref().map(room_id).transpose()?;
    Ok(HttpResponse::Ok().json(RecordingList {
        recordings: state.recordings.list(room.as_ref()),
    }))
}

async fn get(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.recordings.get(recording_id(&path)?)?))
}

async fn stop(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.recordings.stop(recording_id(&path)?).await?))
}

async fn set_layout(
    _: Admin,
    state: State,
    path: web::Path<String>,
    body: web::Json<SetLayout>,
) -> Result<HttpResponse> {
    let summary = state
        .recordings
        .set_layout(recording_id(&path)?, body.layout)
        .await?;
    Ok(HttpResponse::Ok().json(summary))
}

async fn delete(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    state.recordings.delete(recording_id(&path)?)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn link(_: Admin, state: State, path: web::Path<String>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.recordings.link(recording_id(&path)?)?))
}

#[derive(Deserialize)]
struct FileQuery {
    download: Option<String>,
}

async fn admin_file(
    _: Admin,
    state: State,
    path: web::Path<String>,
    query: web::Query<FileQuery>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    serve(&state, recording_id(&path)?, query.download.is_some(), &req).await
}

#[derive(Deserialize)]
struct LinkQuery {
    expires: u64,
    sig: String,
    download: Option<String>,
}

async fn linked_file(
    state: State,
    path: web::Path<String>,
    query: web::Query<LinkQuery>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let id = recording_id(&path)?;
    state.recordings.check_link(id, query.expires, &query.sig)?;
    serve(&state, id, query.download.is_some(), &req).await
}

async fn serve(
    state: &State,
    id: RecordingId,
    download: bool,
    req: &HttpRequest,
) -> Result<HttpResponse> {
    let summary = state.recordings.get(id)?;
    let path = state.recordings.file(id)?;
    let file = NamedFile::open_async(&path)
        .await
        .map_err(|e| Error::Internal(format!("cannot open the recording: {e}")))?;
    let name = format!("podium-{}-{id}.mp4", summary.room);
    let disposition = ContentDisposition {
        disposition: if download {
            DispositionType::Attachment
        } else {
            DispositionType::Inline
        },
        parameters: vec![DispositionParam::Filename(name)],
    };
    Ok(file
        .set_content_type("video/mp4".parse().expect("a MIME type"))
        .set_content_disposition(disposition)
        .into_response(req))
}
