//! The one error type of the server, and its mapping to wire error codes
//! (WebSocket responses) and HTTP statuses (the HTTP API).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

pub use podium_protocol::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    /// The message says which method.
    #[error("{0}")]
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
    #[error("{0}")]
    Unavailable(String),
    /// Another node of the cluster refused, for this reason.
    #[error("{}", .0.message)]
    Remote(ErrorBody),
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
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Remote(body) => body.code,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }
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
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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
