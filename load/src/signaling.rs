//! A bot's signaling connection: Podium's JSON protocol over one WebSocket
//! (docs/PROTOCOL.md). Requests are answered in order; notifications that
//! arrive while a bot waits for a response are kept for later.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

#[derive(Debug, Error)]
pub enum SignalError {
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("{method} refused: {code}: {message}")]
    Refused {
        method: String,
        code: String,
        message: String,
    },
    #[error("the server closed the connection{}", .0.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed(Option<String>),
    #[error("unexpected message: {0}")]
    Protocol(String),
}

#[derive(Debug, Clone)]
pub struct Notification {
    pub name: String,
    pub data: Value,
}

pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u32,
    pending: VecDeque<Notification>,
}

/// One message from the server, classified.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Response {
        id: u32,
        result: Result<Value, (String, String)>,
    },
    Notification {
        name: String,
        data: Value,
    },
}

/// Classifies a server message (pure; tested).
pub fn classify(text: &str) -> Result<Incoming, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(name) = value.get("notification").and_then(Value::as_str) {
        return Ok(Incoming::Notification {
            name: name.to_owned(),
            data: value.get("data").cloned().unwrap_or(Value::Null),
        });
    }
    let id = value
        .get("response")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("neither a response nor a notification: {text}"))?
        as u32;
    let result = if value.get("ok").and_then(Value::as_bool) == Some(true) {
        Ok(value.get("data").cloned().unwrap_or(Value::Null))
    } else {
        let error = value.get("error").cloned().unwrap_or(Value::Null);
        let field = |k: &str| {
            error
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        Err((field("code"), field("message")))
    };
    Ok(Incoming::Response { id, result })
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

    /// Sends a request and waits for its response.
    pub async fn request(&mut self, method: &str, data: Value) -> Result<Value, SignalError> {
        let id = self.next_id;
        self.next_id += 1;
        let text = json!({ "id": id, "method": method, "data": data }).to_string();
        self.ws.send(Message::Text(text)).await?;
        loop {
            match self.read().await? {
                Incoming::Response { id: got, result } if got == id => {
                    return result.map_err(|(code, message)| SignalError::Refused {
                        method: method.to_owned(),
                        code,
                        message,
                    });
                }
                Incoming::Response { id: got, .. } => {
                    return Err(SignalError::Protocol(format!(
                        "response {got} while waiting for {id}"
                    )));
                }
                Incoming::Notification { name, data } => {
                    if name == "closed" {
                        return Err(SignalError::Closed(reason(&data)));
                    }
                    self.pending.push_back(Notification { name, data });
                }
            }
        }
    }

    /// The next notification (kept ones first).
    pub async fn notification(&mut self) -> Result<Notification, SignalError> {
        if let Some(n) = self.pending.pop_front() {
            return Ok(n);
        }
        match self.read().await? {
            Incoming::Notification { name, data } => Ok(Notification { name, data }),
            Incoming::Response { id, .. } => {
                Err(SignalError::Protocol(format!("unasked response {id}")))
            }
        }
    }

    async fn read(&mut self) -> Result<Incoming, SignalError> {
        loop {
            let message = self.ws.next().await.ok_or(SignalError::Closed(None))??;
            match message {
                Message::Text(text) => return classify(&text).map_err(SignalError::Protocol),
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
        let _ = self.request("leave", json!({})).await;
        let _ = self.ws.close(None).await;
    }

    /// Closes the socket without a word (a dropped connection).
    pub async fn drop_connection(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn reason(data: &Value) -> Option<String> {
    data.get("reason")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_responses_errors_and_notifications() {
        assert_eq!(
            classify(r#"{"response":3,"ok":true,"data":{"a":1}}"#),
            Ok(Incoming::Response {
                id: 3,
                result: Ok(json!({"a":1}))
            })
        );
        assert_eq!(
            classify(r#"{"response":4,"ok":false,"error":{"code":"forbidden","message":"no"}}"#),
            Ok(Incoming::Response {
                id: 4,
                result: Err(("forbidden".into(), "no".into()))
            })
        );
        assert_eq!(
            classify(r#"{"notification":"newProducer","data":{"producer":{}}}"#),
            Ok(Incoming::Notification {
                name: "newProducer".into(),
                data: json!({"producer":{}})
            })
        );
        assert!(classify("[]").is_err());
        assert!(classify("nope").is_err());
    }
}
