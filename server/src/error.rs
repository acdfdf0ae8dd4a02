//! The one error type of the server, and its mapping to wire error codes
//! (WebSocket responses) and HTTP statuses (the HTTP API).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Error codes on the wire: stable, snake_case, listed in docs/PROTOCOL.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed JSON, a missing or mistyped field, a value out of range.
    BadRequest,
    /// The method is not one of the protocol's.
    UnknownMethod,
    /// A room, peer, transport, producer or consumer id that does not exist.
    NotFound,
    /// The peer's role does not allow this.
    Forbidden,
    /// Missing, invalid or expired token or admin key.
    Unauthorized,
    /// The request contradicts the current state (join twice, ...).
    Conflict,
    /// Too many requests on this connection; slow down.
    RateLimited,
    /// The message is over the size limit.
    TooLarge,
    /// The room has reached its peer limit.
    RoomFull,
    /// A configured limit refuses this (connections per address, restreams, ...).
    LimitReached,
    /// mediasoup refused the operation (bad RTP parameters, unsupported codec, ...).
    MediaError,
    /// A bug or a dead worker: try again.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many requests: at most {per_second} per second")]
    RateLimited { per_second: u32 },
    #[error("too many chat messages: at most {per_minute} a minute")]
    ChatRateLimited { per_minute: u32 },
    #[error("message of {size} bytes is over the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("room {0} is full")]
    RoomFull(String),
    #[error("{0}")]
    LimitReached(String),
    #[error("{0}")]
    Media(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::UnknownMethod(_) => ErrorCode::UnknownMethod,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::RateLimited { .. } | Self::ChatRateLimited { .. } => ErrorCode::RateLimited,
            Self::TooLarge { .. } => ErrorCode::TooLarge,
            Self::RoomFull(_) => ErrorCode::RoomFull,
            Self::LimitReached(_) => ErrorCode::LimitReached,
            Self::Media(_) => ErrorCode::MediaError,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

/// `{"code": "...", "message": "..."}`, in WebSocket responses and HTTP errors.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self.code() {
            ErrorCode::BadRequest | ErrorCode::UnknownMethod | ErrorCode::MediaError => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Conflict | ErrorCode::RoomFull => StatusCode::CONFLICT,
            ErrorCode::RateLimited | ErrorCode::LimitReached => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(serde_json::json!({ "error": self.body() }))
    }
}

macro_rules! media_errors {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::Media(e.to_string())
            }
        }
    )*};
}

media_errors!(
    mediasoup::transport::ProduceError,
    mediasoup::transport::ConsumeError,
    mediasoup::router::PipeProducerToRouterError,
    mediasoup::worker::RequestError,
);
