//! The signaling protocol on this server's side: the wire types are
//! podium-protocol's; this adds the server's error type to parsing and
//! answering.

use crate::error::Error;
use podium_protocol::ErrorCode;
pub use podium_protocol::signaling::*;

/// Parses one text message: the envelope first, so that errors in the data
/// still answer to the request's id.
pub fn parse(text: &str) -> Result<(RequestId, Request), (Option<RequestId>, Error)> {
    podium_protocol::signaling::parse(text).map_err(|e| {
        let error = match e.code {
            ErrorCode::UnknownMethod => Error::UnknownMethod(e.message),
            _ => Error::BadRequest(e.message),
        };
        (e.id, error)
    })
}

/// The response to request `id`.
pub fn response_text(id: RequestId, result: &Result<ResponseData, Error>) -> String {
    match result {
        Ok(data) => podium_protocol::signaling::response_text(id, data),
        Err(e) => error_text(Some(id), e),
    }
}

/// An error response; no `response` when the message had no readable id.
pub fn error_text(id: Option<RequestId>, error: &Error) -> String {
    podium_protocol::signaling::error_text(id, &error.body())
}
