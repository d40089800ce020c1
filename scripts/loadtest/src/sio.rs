//! A minimal Socket.IO v5 client over an Engine.IO v4 websocket: connect with an `auth`
//! object from a chosen local address, emit with or without an acknowledgement, answer the
//! server's pings, and hand every server event to a callback. No polling transport, no binary
//! packets, no namespaces but `/`: what a load generator needs and nothing more.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port` of the server (nginx or a node).
    pub addr: SocketAddr,
    /// Source address (127.0.0.x spreads sockets over nodes behind a hash by address).
    pub local: Option<IpAddr>,
}

/// A connected socket. Cheap to share; every method is non-blocking.
pub struct Socket {
    out: mpsc::UnboundedSender<Message>,
    acks: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    next_ack: AtomicU64,
}

impl Socket {
    /// Emits `event` with `data`, no acknowledgement asked.
    pub fn emit(&self, event: &str, data: &Value) -> bool {
        let packet = format!("42{}", Value::Array(vec![Value::String(event.to_owned()), data.clone()]));
        self.out.send(Message::text(packet)).is_ok()
    }

    /// Emits `event` with `data` and returns the acknowledgement's first argument. The
    /// receiver fails if the socket closes first.
    pub fn emit_ack(&self, event: &str, data: &Value) -> oneshot::Receiver<Value> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut acks) = self.acks.lock() {
            acks.insert(id, tx);
        }
        let packet = format!("42{id}{}", Value::Array(vec![Value::String(event.to_owned()), data.clone()]));
        let _ = self.out.send(Message::text(packet));
        rx
    }

    /// Closes the websocket (the server sees the client go).
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}

/// What a socket's callback is told.
pub enum Event<'a> {
    /// A server event: its name and first argument.
    Message(&'a str, Value),
    /// The connection ended (by either side, or a network error).
    Closed,
}

/// Connects, sends the Socket.IO CONNECT with `auth`, waits for the server's answer and then
/// runs the connection in a task that calls `on_event` for every event. Fails with the
/// server's connect error (for example `UNAUTHORIZED`) or a network error.
pub async fn connect<H>(
    target: &Target,
    auth: &Value,
    timeout: Duration,
    mut on_event: H,
) -> anyhow::Result<Arc<Socket>>
where
    H: FnMut(&Socket, Event<'_>) + Send + 'static,
{
    let (mut sink, mut stream) = tokio::time::timeout(timeout, async {
        let socket = if target.addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(local) = target.local {
            socket.bind(SocketAddr::new(local, 0))?;
        }
        let tcp = socket.connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", target.addr);
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.context("websocket handshake")?;
        anyhow::Ok(ws.split())
    })
    .await
    .map_err(|_| anyhow!("connect timed out"))??;

    // Engine.IO OPEN, then the namespace CONNECT and its answer.
    let answer = tokio::time::timeout(timeout, async {
        let mut sent_connect = false;
        while let Some(frame) = stream.next().await {
            let Message::Text(text) = frame? else { continue };
            let text = text.as_str();
            if text.starts_with('0') && !sent_connect {
                sink.send(Message::text(format!("40{auth}"))).await?;
                sent_connect = true;
            } else if text == "2" {
                sink.send(Message::text("3")).await?;
            } else if let Some(rest) = text.strip_prefix("40") {
                return anyhow::Ok(rest.to_owned());
            } else if let Some(rest) = text.strip_prefix("44") {
                let v: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
                bail!("connect refused: {}", v.get("message").and_then(Value::as_str).unwrap_or(rest));
            }
        }
        bail!("closed during the handshake")
    })
    .await
    .map_err(|_| anyhow!("socket.io connect timed out"))??;
    drop(answer);

    let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
    let socket = Arc::new(Socket { out, acks: Mutex::new(HashMap::new()), next_ack: AtomicU64::new(0) });
    let s = socket.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    match frame {
                        Message::Text(text) if !handle(&s, text.as_str(), &mut on_event) => break,
                        Message::Text(_) => {}
                        Message::Ping(p) => {
                            let _ = s.out.send(Message::Pong(p));
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
                out = out_rx.recv() => {
                    let Some(out) = out else { break };
                    let closing = matches!(out, Message::Close(_));
                    if sink.send(out).await.is_err() || closing {
                        break;
                    }
                }
            }
        }
        if let Ok(mut acks) = s.acks.lock() {
            acks.clear();
        }
        on_event(&s, Event::Closed);
    });
    Ok(socket)
}

/// Handles one Engine.IO text frame; false when the server ended the session.
fn handle<H: FnMut(&Socket, Event<'_>)>(s: &Socket, text: &str, on_event: &mut H) -> bool {
    match text.as_bytes().first() {
        Some(b'2') => {
            let _ = s.out.send(Message::text("3"));
            true
        }
        Some(b'1') => false,
        Some(b'4') => {
            let packet = &text[1..];
            match packet.as_bytes().first() {
                Some(b'2') => {
                    let (_, body) = split_id(&packet[1..]);
                    if let Ok(Value::Array(mut args)) = serde_json::from_str::<Value>(body)
                        && !args.is_empty()
                        && let Value::String(name) = args.remove(0)
                    {
                        let data = if args.is_empty() { Value::Null } else { args.swap_remove(0) };
                        on_event(s, Event::Message(&name, data));
                    }
                    true
                }
                Some(b'3') => {
                    let (id, body) = split_id(&packet[1..]);
                    let data = match serde_json::from_str::<Value>(body) {
                        Ok(Value::Array(mut args)) if !args.is_empty() => args.swap_remove(0),
                        _ => Value::Null,
                    };
                    if let Some(id) = id
                        && let Some(tx) = s.acks.lock().ok().and_then(|mut a| a.remove(&id))
                    {
                        let _ = tx.send(data);
                    }
                    true
                }
                Some(b'1') => false,
                _ => true,
            }
        }
        _ => true,
    }
}

/// Splits a packet's optional ack id from its JSON body.
fn split_id(s: &str) -> (Option<u64>, &str) {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    (s[..digits].parse().ok(), &s[digits..])
}

#[cfg(test)]
mod tests {
    use super::split_id;

    #[test]
    fn an_ack_id_is_split_from_its_body() {
        assert_eq!(split_id("12[1]"), (Some(12), "[1]"));
        assert_eq!(split_id("[\"a\"]"), (None, "[\"a\"]"));
    }
}
