//! A bot's signaling connection: Podium's protocol (the `podium-protocol`
//! types, docs/PROTOCOL.md) over one WebSocket. Requests are answered in
//! order; notifications that arrive while a bot waits for a response are
//! kept for later.

use futures_util::{SinkExt, StreamExt};
use podium_protocol::{
    Empty, ErrorBody, ErrorCode, Incoming, Notification, Outgoing, Request, RequestId,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

#[derive(Debug, Error)]
pub enum SignalError {
    /// Boxed: the WebSocket's error is large, and every result carries it.
    #[error("websocket: {0}")]
    Ws(Box<tokio_tungstenite::tungstenite::Error>),
    #[error("{method} refused: {}: {message}", wire_name(.code))]
    Refused {
        method: &'static str,
        code: ErrorCode,
        message: String,
    },
    /// The response's data is not what the method answers.
    #[error("{method}: unexpected response: {error}")]
    BadResponse {
        method: &'static str,
        error: serde_json::Error,
    },
    #[error("the server closed the connection{}", .0.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed(Option<String>),
    #[error("unexpected message: {0}")]
    Protocol(String),
}

impl From<tokio_tungstenite::tungstenite::Error> for SignalError {
    fn from(error: tokio_tungstenite::tungstenite::Error) -> Self {
        Self::Ws(Box::new(error))
    }
}

/// A unit enum's name on the wire (`forbidden`, `kicked`).
pub fn wire_name<T: Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{value:?}"),
    }
}

pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: RequestId,
    pending: VecDeque<Notification>,
}

/// A request as it goes on the wire (pure; tested).
pub fn encode(id: RequestId, request: &Request) -> String {
    serde_json::to_string(&Outgoing { id, request }).expect("requests serialize")
}

/// Reads one server message (pure; tested).
pub fn parse(text: &str) -> Result<Incoming, SignalError> {
    Incoming::parse(text).map_err(|e| {
        let start: String = text.chars().take(200).collect();
        SignalError::Protocol(format!("{e}: {start}"))
    })
}

/// What the server answered to `method`: its data as the type the method
/// answers, or its refusal (pure; tested).
pub fn answer<T: DeserializeOwned>(
    method: &'static str,
    result: Result<serde_json::Value, ErrorBody>,
) -> Result<T, SignalError> {
    match result {
        Ok(data) => {
            Incoming::decode(data).map_err(|error| SignalError::BadResponse { method, error })
        }
        Err(ErrorBody { code, message }) => Err(SignalError::Refused {
            method,
            code,
            message,
        }),
    }
}

impl Signal {
    /// Opens `url` (`ws://host/ws`) with the join token offered as the
    /// subprotocol `podium.token.<token>`, as the pages do.
    pub async fn connect(url: &str, token: &str) -> Result<Signal, SignalError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::HeaderValue;
        let mut request = url.into_client_request()?;
        let protocols = HeaderValue::from_str(&format!("podium, podium.token.{token}"))
            .map_err(|_| SignalError::Protocol("the token is not a valid header value".into()))?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols);
        let (ws, _) = connect_async(request).await?;
        Ok(Signal {
            ws,
            next_id: 1,
            pending: VecDeque::new(),
        })
    }

    /// Sends a request and waits for its response, read as `T`: the type
    /// the method answers (`podium_protocol::signaling::RESPONSE_TYPES`),
    /// [`Empty`] for `{}`.
    pub async fn request<T: DeserializeOwned>(
        &mut self,
        request: Request,
    ) -> Result<T, SignalError> {
        let id = self.next_id;
        self.next_id += 1;
        let method = request.method();
        self.ws.send(Message::Text(encode(id, &request))).await?;
        loop {
            let result = match self.read().await? {
                Incoming::Ok { response, data } if response == id => Ok(data),
                Incoming::Err {
                    response: Some(response),
                    error,
                } if response == id => Err(error),
                // The server could not read the id of the one request in flight.
                Incoming::Err {
                    response: None,
                    error,
                } => Err(error),
                Incoming::Ok { response: got, .. }
                | Incoming::Err {
                    response: Some(got),
                    ..
                } => {
                    return Err(SignalError::Protocol(format!(
                        "response {got} while waiting for {id}"
                    )));
                }
                Incoming::Notification(Notification::Closed { reason }) => {
                    return Err(SignalError::Closed(Some(wire_name(&reason))));
                }
                Incoming::Notification(notification) => {
                    self.pending.push_back(notification);
                    continue;
                }
            };
            return answer(method, result);
        }
    }

    /// The next notification (kept ones first).
    pub async fn notification(&mut self) -> Result<Notification, SignalError> {
        if let Some(n) = self.pending.pop_front() {
            return Ok(n);
        }
        match self.read().await? {
            Incoming::Notification(n) => Ok(n),
            Incoming::Ok { response, .. } => Err(SignalError::Protocol(format!(
                "unasked response {response}"
            ))),
            Incoming::Err { response, error } => Err(SignalError::Protocol(format!(
                "unasked error response {response:?}: {}: {}",
                wire_name(&error.code),
                error.message
            ))),
        }
    }

    async fn read(&mut self) -> Result<Incoming, SignalError> {
        loop {
            let message = self.ws.next().await.ok_or(SignalError::Closed(None))??;
            match message {
                Message::Text(text) => return parse(&text),
                Message::Close(frame) => {
                    return Err(SignalError::Closed(frame.map(|f| f.reason.to_string())));
                }
                // Pings are answered by tungstenite on the next read or write.
                _ => continue,
            }
        }
    }

    /// Says `leave`, then closes the socket.
    pub async fn leave(mut self) {
        let _ = self.request::<Empty>(Request::Leave {}).await;
        let _ = self.ws.close(None).await;
    }

    /// Closes the socket without a word (a dropped connection).
    pub async fn drop_connection(mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podium_protocol::{CloseReason, ConsumerId, Direction, PeerId, Produced, ProducerId};

    #[test]
    fn requests_go_out_in_their_envelope() {
        assert_eq!(
            encode(1, &Request::Join {}),
            r#"{"id":1,"method":"join","data":{}}"#
        );
        assert_eq!(
            encode(
                2,
                &Request::CreateTransport {
                    direction: Direction::Recv
                }
            ),
            r#"{"id":2,"method":"createTransport","data":{"direction":"recv"}}"#
        );
        let consumer_id = ConsumerId::new();
        assert_eq!(
            encode(
                3,
                &Request::SetConsumerPreferredLayers {
                    consumer_id,
                    spatial_layer: 0,
                    temporal_layer: None,
                }
            ),
            format!(
                r#"{{"id":3,"method":"setConsumerPreferredLayers","data":{{"consumerId":"{consumer_id}","spatialLayer":0}}}}"#
            )
        );
    }

    #[test]
    fn classifies_responses_errors_and_notifications() {
        let producer_id = ProducerId::new();
        let ok = format!(r#"{{"response":3,"ok":true,"data":{{"producerId":"{producer_id}"}}}}"#);
        let Incoming::Ok { response: 3, data } = parse(&ok).unwrap() else {
            panic!("{ok}");
        };
        let produced: Produced = answer("produce", Ok(data.clone())).unwrap();
        assert_eq!(produced.producer_id, producer_id);
        // Data that is not what the method answers is an error, not a guess.
        let wrong = answer::<Empty>("resumeConsumer", Ok(data)).unwrap_err();
        assert!(
            matches!(
                wrong,
                SignalError::BadResponse {
                    method: "resumeConsumer",
                    ..
                }
            ),
            "{wrong}"
        );

        let err = r#"{"response":4,"ok":false,"error":{"code":"forbidden","message":"no"}}"#;
        let Incoming::Err {
            response: Some(4),
            error,
        } = parse(err).unwrap()
        else {
            panic!("{err}");
        };
        let refused = answer::<Empty>("produce", Err(error)).unwrap_err();
        assert!(
            matches!(
                &refused,
                SignalError::Refused {
                    method: "produce",
                    code: ErrorCode::Forbidden,
                    message,
                } if message == "no"
            ),
            "{refused}"
        );
        assert_eq!(refused.to_string(), "produce refused: forbidden: no");

        let peer_id = PeerId::new();
        let new_producer = format!(
            r#"{{"notification":"newProducer","data":{{"producer":{{"id":"{producer_id}","peerId":"{peer_id}","kind":"video","source":"camera","paused":false}}}}}}"#
        );
        match parse(&new_producer).unwrap() {
            Incoming::Notification(Notification::NewProducer { producer }) => {
                assert_eq!(producer.id, producer_id);
                assert_eq!(producer.peer_id, peer_id);
            }
            other => panic!("{other:?}"),
        }
        match parse(r#"{"notification":"closed","data":{"reason":"kicked"}}"#).unwrap() {
            Incoming::Notification(Notification::Closed { reason }) => {
                assert_eq!(reason, CloseReason::Kicked);
                assert_eq!(wire_name(&reason), "kicked");
            }
            other => panic!("{other:?}"),
        }

        assert!(parse("[]").is_err());
        assert!(parse("nope").is_err());
        assert!(parse(r#"{"notification":"fly","data":{}}"#).is_err());
    }
}
