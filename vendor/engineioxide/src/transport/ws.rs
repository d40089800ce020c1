//! The ws transport module is responsible for handling websocket connections
//! The only public function is [`new_req`] which is used to upgrade a http request to a websocket connection
//!
//! Other functions are used internally to handle the websocket connection through tasks and channels
//! and to handle upgrade from polling to ws

use std::sync::Arc;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode, request::Parts};
use smallvec::smallvec;

use engineioxide_core::PacketBuf;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        self, Message,
        handshake::derive_accept_key,
        protocol::{Role, WebSocketConfig},
    },
};
use tokio_util::future::FutureExt as _;

use engineioxide_core::{Packet, ProtocolVersion, Sid, Str, TransportType};

use crate::{
    DisconnectReason, Socket,
    body::ResponseBody,
    config::EngineIoConfig,
    engine::EngineIo,
    errors::Error,
    handler::EngineIoHandler,
    socket::{InternalRx, Queued},
    transport::make_open_packet,
};

/// Create a response for websocket upgrade
fn ws_response<B>(ws_key: &HeaderValue) -> Response<ResponseBody<B>> {
    let derived = derive_accept_key(ws_key.as_bytes());
    let sec = derived.parse::<HeaderValue>().unwrap();
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(
            http::header::CONNECTION,
            HeaderValue::from_static("Upgrade"),
        )
        .header(http::header::SEC_WEBSOCKET_ACCEPT, sec)
        .body(ResponseBody::empty_response())
        .unwrap() // we are only using constants
}

/// Upgrade a websocket request to create a websocket connection.
///
/// If a sid is provided in the query it means that is is upgraded from an existing HTTP polling request.
/// In this case the http polling request is closed and the SID is kept for the websocket
pub fn new_req<R: Send + 'static, B, H: EngineIoHandler>(
    engine: Arc<EngineIo<H>>,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req: Request<R>,
) -> Result<Response<ResponseBody<B>>, Error> {
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts.clone(), body);

    let ws_key = parts
        .headers
        .get("Sec-WebSocket-Key")
        .ok_or(Error::InvalidWebSocketKey)?
        .clone();

    tokio::spawn(async move {
        let conn = hyper::upgrade::on(req)
            .await
            .map(hyper_util::rt::TokioIo::new);

        let res = match conn {
            Ok(conn) => on_init(engine.clone(), conn, protocol, sid, parts).await,
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("ws upgrade error: {}", _e);
                return;
            }
        };

        match res {
            Ok(_) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(?sid, "ws closed")
            }
            Err(Error::MultipleWebsocketRequests) => {}
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(?sid, "ws closed with error: {_e}");
                if let Some(sid) = sid {
                    engine.close_session(sid, DisconnectReason::TransportError);
                }
            }
        }
    });

    Ok(ws_response(&ws_key))
}

/// Handle a websocket connection upgrade
///
/// Sends an open packet if it is not an upgrade from a polling request
///
/// hubbub: returns once the handshake is done; the connection then runs in a task of its own
/// (`run`) until it is closed.
#[cfg_attr(
    feature = "tracing",
    tracing::instrument(level = "trace", name = "init_websocket", skip(engine, conn, req_data))
)]
pub async fn on_init<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    conn: S,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req_data: Parts,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(engine.config.ws_read_buffer_size)
        .max_message_size(Some(engine.config.ws_max_message_size))
        .max_frame_size(Some(engine.config.ws_max_frame_size));

    let ws_init = move || WebSocketStream::from_raw_socket(conn, Role::Server, Some(ws_config));
    let (socket, ws, heartbeat) = if let Some(sid) = sid {
        match engine.get_socket(sid) {
            None => return Err(Error::UnknownSessionID(sid)),
            Some(socket) if socket.is_ws() => return Err(Error::MultipleWebsocketRequests),
            Some(socket) => {
                let mut ws = ws_init().await;

                // Boxed: the handshake's state would otherwise stay in every connection's task.
                let upgrade_fut = Box::pin(upgrade_handshake::<H, S>(&socket, &mut ws));
                match tokio::time::timeout(engine.config.upgrade_timeout, upgrade_fut)
                    .with_cancellation_token(&socket.cancellation_token)
                    .await
                {
                    Some(Ok(res)) => res?,
                    Some(Err(_)) => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(?sid, "ws upgrade timed out, closing session");
                        engine.close_session(socket.id, DisconnectReason::TransportError);
                        return Err(Error::Upgrade);
                    }
                    None => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(?sid, "socket is being closed");
                        return Err(Error::Upgrade);
                    }
                }
                // The heartbeat task started with the polling session goes on.
                (socket, ws, None)
            }
        }
    } else {
        let socket = engine.create_session(protocol, TransportType::Websocket, req_data, false);

        #[cfg(feature = "tracing")]
        tracing::debug!("new websocket connection");

        let mut ws = ws_init().await;
        Box::pin(init_handshake(socket.id, &mut ws, &engine.config)).await?;
        // hubbub: a websocket session's v4 heartbeat runs in its connection's one task.
        let heartbeat = if socket.protocol == ProtocolVersion::V4 {
            Some(Heartbeat {
                interval: engine.config.ping_interval,
                timeout: engine.config.ping_timeout,
                awaiting_pong: false,
            })
        } else {
            socket
                .clone()
                .spawn_heartbeat(engine.config.ping_interval, engine.config.ping_timeout);
            None
        };
        (socket, ws, heartbeat)
    };

    // hubbub: the connection's life runs in a task of its own, whose future holds only what it
    // needs; this one (the upgrade, the request, the handshakes) ends here.
    tokio::spawn(async move { run(&engine, &socket, ws, heartbeat).await });
    Ok(())
}

/// The server's side of a v4 heartbeat: a ping every `interval`, each answered within `timeout`.
struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    awaiting_pong: bool,
}

/// What a message read from the websocket asks of the connection.
enum Read {
    Continue,
    Pong,
    Closed,
}

/// hubbub: one task per websocket, instead of a reader, a writer and a heartbeat task.
///
/// Writes whatever the socket's channels hold (what was queued before a close still goes out
/// before it, as the writer task sent it), reads and dispatches what the client sends,
/// and pings when a heartbeat is given. Returns once the session is closed, by either side;
/// then flushes and closes the websocket.
async fn run<H: EngineIoHandler, S>(
    engine: &Arc<EngineIo<H>>,
    socket: &Arc<Socket<H::Data>>,
    mut ws: WebSocketStream<S>,
    mut heartbeat: Option<Heartbeat>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A polling request that was in progress during the upgrade may still hold the lock.
    let lock = socket.internal_rx.lock();
    let Some(mut internal_rx) = lock
        .with_cancellation_token(&socket.cancellation_token)
        .await
    else {
        #[cfg(feature = "tracing")]
        tracing::debug!(sid = %socket.id, "session closed before starting the ws writer");
        return;
    };
    let InternalRx {
        buffered_rx,
        volatile_rx,
        ..
    } = &mut *internal_rx;

    // The first ping goes out at once, as engineioxide's heartbeat task sends it.
    let beat = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(beat);

    let ended = loop {
        tokio::select! {
            // Not biased: a socket whose outgoing queue never empties is still read.
            items = buffered_rx.recv() => {
                let Some(packets) = items else { break None };
                write_packets(&mut ws, socket, *packets).await;
                write_queued(&mut ws, socket, buffered_rx).await;
                ws.flush().await.ok();
            }
            _ = socket.cancellation_token.cancelled() => {
                // What was queued before the close (a disconnect packet, the close packet)
                // still goes out, as the writer task sent it.
                write_queued(&mut ws, socket, buffered_rx).await;
                break None;
            }
            Ok(()) = volatile_rx.changed() => {
                let val = volatile_rx.borrow_and_update().clone();
                if let Some(packets) = val {
                    #[cfg(feature = "tracing")]
                    tracing::debug!(sid = ?socket.id, "ws volatile flush: {} packets", packets.len());
                    write_packets(&mut ws, socket, *packets).await;
                }
                ws.flush().await.ok();
            }
            msg = ws.next() => match msg {
                None => break Some(Ok(())),
                Some(Err(e)) => break Some(Err(Error::from(e))),
                Some(Ok(msg)) => match on_ws_message(engine, socket, msg) {
                    Ok(Read::Continue) => {}
                    Ok(Read::Pong) => match heartbeat.as_mut() {
                        Some(hb) if hb.awaiting_pong => {
                            hb.awaiting_pong = false;
                            let next = beat.deadline() - hb.timeout + hb.interval;
                            beat.as_mut().reset(next);
                        }
                        Some(_) => {}
                        None => socket.heartbeat_received(),
                    },
                    Ok(Read::Closed) => break Some(Ok(())),
                    Err(e) => break Some(Err(e)),
                },
            },
            () = &mut beat, if heartbeat.is_some() => {
                let Some(hb) = heartbeat.as_mut() else { continue };
                if hb.awaiting_pong {
                    #[cfg(feature = "tracing")]
                    tracing::debug!(sid = ?socket.id, "heartbeat timeout");
                    heartbeat = None;
                    // Queues a close packet, then closes the session: both are seen above.
                    socket.close(DisconnectReason::HeartbeatTimeout);
                    continue;
                }
                #[cfg(feature = "tracing")]
                tracing::trace!(sid = ?socket.id, "emitting ping");
                hb.awaiting_pong = true;
                let deadline = tokio::time::Instant::now() + hb.timeout;
                beat.as_mut().reset(deadline);
                let ping: String = Packet::Ping.into();
                ws.send(Message::Text(ping.into())).await.ok();
            }
        }
    };

    match ended {
        Some(Err(ref e)) => {
            let reason =
                Option::<DisconnectReason>::from(e).unwrap_or(DisconnectReason::TransportError);

            #[cfg(feature = "tracing")]
            tracing::debug!("error when handling packet: {:?}", e);
            engine.close_session(socket.id, reason);
        }
        Some(Ok(())) => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "ws transport was closed");
            engine.close_session(socket.id, DisconnectReason::TransportClose);
        }
        None => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "socket is closing");
        }
    }

    #[cfg(feature = "tracing")]
    tracing::trace!(sid = %socket.id, "ws closing flush");
    ws.flush().await.ok();
    SinkExt::close(&mut ws).await.ok();
}

/// Handles one message from the websocket.
fn on_ws_message<H: EngineIoHandler>(
    engine: &Arc<EngineIo<H>>,
    socket: &Arc<Socket<H::Data>>,
    msg: Message,
) -> Result<Read, Error> {
    match msg {
        Message::Text(msg) => match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
            Packet::Close => {
                #[cfg(feature = "tracing")]
                tracing::debug!("[sid={}] closing session", socket.id);
                engine.close_session(socket.id, DisconnectReason::TransportClose);
                Ok(Read::Closed)
            }
            Packet::Pong | Packet::Ping => Ok(Read::Pong),
            Packet::Message(msg) => {
                engine.handler.on_message(msg, socket.clone());
                Ok(Read::Continue)
            }
            p => Err(Error::BadPacket(p)),
        },
        Message::Binary(mut data) => {
            if socket.protocol == ProtocolVersion::V3 && !data.is_empty() {
                // The first byte is the message type, which we don't need.
                data = data.split_off(1);
            }
            engine.handler.on_binary(data, socket.clone());
            Ok(Read::Continue)
        }
        Message::Close(_) => {
            #[cfg(feature = "tracing")]
            tracing::debug!("websocket closed, closing session");
            engine.close_session(socket.id, DisconnectReason::TransportClose);
            Ok(Read::Closed)
        }
        _ => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = ?socket.id, "unexpected ws message");
            Ok(Read::Continue)
        }
    }
}

/// Feeds whatever is queued now to the websocket (flushed by the caller).
async fn write_queued<D, S>(
    ws: &mut WebSocketStream<S>,
    socket: &Socket<D>,
    buffered_rx: &mut tokio::sync::mpsc::Receiver<Queued>,
) where
    D: Default + Send + Sync + 'static,
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Ok(packets) = buffered_rx.try_recv() {
        write_packets(ws, socket, *packets).await;
    }
}

/// Feeds packets to the websocket (flushed by the caller).
async fn write_packets<D, S>(ws: &mut WebSocketStream<S>, socket: &Socket<D>, packets: PacketBuf)
where
    D: Default + Send + Sync + 'static,
    S: AsyncRead + AsyncWrite + Unpin,
{
    for item in packets {
        let res = match item {
            Packet::Binary(bin) | Packet::BinaryV3(bin) => {
                if socket.protocol == ProtocolVersion::V3 {
                    // v3 protocol requires packet type as the first byte.
                    // This requires a new buffer. This is OK as it is only for the V3 protocol.
                    let mut buff = Vec::with_capacity(bin.len() + 1);
                    buff.push(0x04);
                    buff.extend(bin);
                    ws.feed(Message::Binary(buff.into())).await
                } else {
                    ws.feed(Message::Binary(bin)).await
                }
            }
            // A Noop Packet maybe sent by the server to upgrade from a polling connection
            // In the case that the packet was not poll in time it will remain in the buffer and therefore
            // it should be discarded here
            Packet::Noop => Ok(()),
            item => {
                let packet: String = item.into();
                ws.feed(Message::Text(packet.into())).await
            }
        };
        if let Err(_e) = res {
            #[cfg(feature = "tracing")]
            tracing::debug!("[sid={}] error sending packet: {}", socket.id, _e);
        }
    }
}

/// Send a Engine.IO [`OpenPacket`] to initiate a websocket connection
async fn init_handshake<S>(
    sid: Sid,
    ws: &mut WebSocketStream<S>,
    config: &EngineIoConfig,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let packet = Packet::Open(make_open_packet(TransportType::Websocket, sid, config));
    let packet: String = packet.into();
    ws.send(Message::Text(packet.into())).await?;
    Ok(())
}

/// Upgrade a session from a polling request to a websocket request.
///
/// Before upgrading the session the server should send a NOOP packet to any pending polling request.
///
/// ## Handshake :
/// ```text
/// CLIENT                                                 SERVER
///│                                                      │
///│   GET /engine.io/?EIO=4&transport=websocket&sid=...  │
///│ ───────────────────────────────────────────────────► │
///│  ◄─────────────────────────────────────────────────┘ │
///│            HTTP 101 (WebSocket handshake)            │
///│                                                      │
///│            -----  WebSocket frames -----             │
///│  ─────────────────────────────────────────────────►  │
///│                         2probe                       │ (ping packet)
///│  ◄─────────────────────────────────────────────────  │
///│                         3probe                       │ (pong packet)
///│  ─────────────────────────────────────────────────►  │
///│                         5                            │ (upgrade packet)
///│                                                      │
///│            -----  WebSocket frames -----             │
/// ```
#[cfg_attr(
    feature = "tracing",
    tracing::instrument(level = "trace", skip(socket, ws))
)]
async fn upgrade_handshake<H: EngineIoHandler, S>(
    socket: &Arc<Socket<H::Data>>,
    ws: &mut WebSocketStream<S>,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    #[cfg(feature = "tracing")]
    tracing::debug!("starting websocket connection upgrade");

    // The socket is upgrading, from now on all polling
    // request will return a `Packet::Noop`
    socket.start_upgrade();

    // We send a last Noop request to close a potential waiting polling request.
    socket
        .internal_tx
        .send(Box::new(smallvec![Packet::Noop]))
        .await
        .map_err(|_| Error::Upgrade)?;

    // wait for any current polling connection to finish by waiting for the socket to be unlocked
    // All other polling connection will be immediately closed with a NOOP packet.
    let _lock = socket.internal_rx.lock().await;

    // Fetch the next packet from the ws stream, it should be a PingUpgrade packet
    let msg = match ws.next().await {
        Some(Ok(Message::Text(d))) => d,
        _ => Err(Error::Upgrade)?,
    };
    match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
        Packet::PingUpgrade => {
            #[cfg(feature = "tracing")]
            tracing::debug!("received first ping upgrade");
            // Respond with a PongUpgrade packet
            ws.send(Message::Text(String::from(Packet::PongUpgrade).into()))
                .await?;
        }
        p => Err(Error::BadPacket(p))?,
    };

    // Fetch the next packet from the ws stream, it should be an Upgrade packet
    let msg = match ws.next().await {
        Some(Ok(Message::Text(d))) => d,
        Some(Ok(Message::Close(_))) => {
            #[cfg(feature = "tracing")]
            tracing::debug!("ws stream closed before upgrade");
            Err(Error::Upgrade)?
        }
        _ => {
            #[cfg(feature = "tracing")]
            tracing::debug!("unexpected ws message before upgrade");
            Err(Error::Upgrade)?
        }
    };
    match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
        Packet::Upgrade => {
            #[cfg(feature = "tracing")]
            tracing::debug!("ws upgraded successfully")
        }
        p => Err(Error::BadPacket(p))?,
    };

    socket.upgrade_to_websocket();
    Ok(())
}

fn ws_bytes_to_str(bytes: tungstenite::Utf8Bytes) -> Str {
    // SAFETY: the bytes are guaranteed to be valid UTF-8 by the tungstenite parser
    unsafe { Str::from_bytes_unchecked(bytes.into()) }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use bytes::Bytes;
    use futures_util::StreamExt;
    use http::Request;
    use tokio::io::DuplexStream;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[derive(Debug, Default)]
    struct StubHandler {
        disconnects: Mutex<Vec<DisconnectReason>>,
    }
    impl EngineIoHandler for StubHandler {
        type Data = ();
        fn on_connect(self: Arc<Self>, _: Arc<Socket<()>>) {}
        fn on_disconnect(&self, _: Arc<Socket<()>>, reason: DisconnectReason) {
            self.disconnects.lock().unwrap().push(reason);
        }
        fn on_message(self: &Arc<Self>, _: Str, _: Arc<Socket<()>>) {}
        fn on_binary(self: &Arc<Self>, _: Bytes, _: Arc<Socket<()>>) {}
    }

    fn engine(config: EngineIoConfig) -> Arc<EngineIo<StubHandler>> {
        Arc::new(EngineIo::new(Arc::new(StubHandler::default()), config))
    }

    fn session(engine: &Arc<EngineIo<StubHandler>>) -> Arc<Socket<()>> {
        engine.create_session(
            ProtocolVersion::V4,
            TransportType::Websocket,
            Request::<()>::default().into_parts().0,
            false,
        )
    }

    async fn ws_pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (server, client) = tokio::io::duplex(1024);
        (
            WebSocketStream::from_raw_socket(server, Role::Server, None).await,
            WebSocketStream::from_raw_socket(client, Role::Client, None).await,
        )
    }

    async fn next_text(client: &mut WebSocketStream<DuplexStream>) -> Option<String> {
        match tokio::time::timeout(TIMEOUT, client.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => Some(t.to_string()),
            _ => None,
        }
    }

    /// A polling request can still hold the lock at the end of an upgrade.
    #[tokio::test]
    async fn the_connection_waits_for_the_lock_of_a_polling_request() {
        let engine = engine(EngineIoConfig::default());
        let socket = session(&engine);
        let (server, mut client) = ws_pair().await;

        let polling = socket.internal_rx.lock().await;
        let conn = {
            let (engine, socket) = (engine.clone(), socket.clone());
            tokio::spawn(async move { run(&engine, &socket, server, None).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !conn.is_finished(),
            "the connection should wait for the lock"
        );

        drop(polling);
        socket.emit(Str::from("hello")).unwrap();
        assert_eq!(next_text(&mut client).await.as_deref(), Some("4hello"));
    }

    #[tokio::test]
    async fn a_connection_waiting_for_the_lock_stops_with_the_session() {
        let engine = engine(EngineIoConfig::default());
        let socket = session(&engine);
        let (server, _client) = ws_pair().await;

        let _polling = socket.internal_rx.lock().await;
        let conn = {
            let (engine, socket) = (engine.clone(), socket.clone());
            tokio::spawn(async move { run(&engine, &socket, server, None).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;

        socket.cancellation_token.cancel();
        tokio::time::timeout(TIMEOUT, conn)
            .await
            .expect("the connection should stop")
            .unwrap();
    }

    /// (hubbub) A full queue closes the session instead of leaving a hole in what the client
    /// gets: every packet queued before the refusal goes out, in order, then the connection ends.
    #[tokio::test]
    async fn a_client_that_does_not_read_is_closed_once_its_queue_is_full() {
        let engine = engine(EngineIoConfig {
            max_buffer_size: 4,
            ..EngineIoConfig::default()
        });
        let socket = session(&engine);
        let (server, mut client) = ws_pair().await;
        let conn = {
            let (engine, socket) = (engine.clone(), socket.clone());
            tokio::spawn(async move { run(&engine, &socket, server, None).await })
        };
        // The client reads nothing: the connection's writes stall once the pipe is full, and
        // then the queue fills.
        let filler = "x".repeat(200);
        let mut sent = 0;
        let refused = loop {
            match socket.emit(Str::from(format!("{sent}:{filler}"))) {
                Ok(()) => sent += 1,
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => break true,
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => break false,
            }
            tokio::task::yield_now().await;
            if sent > 1000 {
                break false;
            }
        };
        assert!(refused, "the queue should fill");
        assert!(
            engine.get_socket(socket.id).is_none(),
            "the engine forgot the session"
        );
        assert!(socket.reserve().is_err(), "nothing more is queued");

        // Now the client reads: everything queued before the refusal, in order.
        for i in 0..sent {
            let text = next_text(&mut client).await;
            assert_eq!(text, Some(format!("4{i}:{filler}")), "packet {i} of {sent}");
        }
        assert_eq!(next_text(&mut client).await, None, "then nothing more");
        tokio::time::timeout(TIMEOUT, conn)
            .await
            .expect("the connection should end")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            *engine.handler.disconnects.lock().unwrap(),
            vec![DisconnectReason::TransportError]
        );
    }

    fn heartbeat(interval_ms: u64, timeout_ms: u64) -> Option<Heartbeat> {
        Some(Heartbeat {
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
            awaiting_pong: false,
        })
    }

    /// A client that answers every ping stays; packets queued before a close go out before it.
    #[tokio::test]
    async fn pings_answered_keep_the_session_and_queued_packets_precede_the_close() {
        let engine = engine(EngineIoConfig::default());
        let socket = session(&engine);
        let (server, mut client) = ws_pair().await;
        let conn = {
            let (engine, socket) = (engine.clone(), socket.clone());
            tokio::spawn(async move { run(&engine, &socket, server, heartbeat(50, 40)).await })
        };
        let mut pings = 0;
        while pings < 5 {
            let got = next_text(&mut client).await;
            assert_eq!(got.as_deref(), Some("2"), "a ping every 50 ms");
            pings += 1;
            client.send(Message::text("3")).await.unwrap();
        }
        assert!(!conn.is_finished(), "answered pings keep the session");

        socket.emit(Str::from("bye")).unwrap();
        socket.close(DisconnectReason::ClosingServer);
        let mut got = Vec::new();
        while let Some(t) = next_text(&mut client).await {
            got.push(t);
        }
        let got: Vec<&str> = got
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "2")
            .collect();
        assert_eq!(
            got,
            ["4bye", "1"],
            "the queued message, then the close packet"
        );
        tokio::time::timeout(TIMEOUT, conn)
            .await
            .expect("the connection ends")
            .unwrap();
    }

    /// A client that stops answering is closed for a heartbeat timeout.
    #[tokio::test]
    async fn a_silent_client_is_closed_after_the_ping_timeout() {
        let engine = engine(EngineIoConfig::default());
        let socket = session(&engine);
        let (server, mut client) = ws_pair().await;
        let conn = {
            let (engine, socket) = (engine.clone(), socket.clone());
            tokio::spawn(async move { run(&engine, &socket, server, heartbeat(50, 40)).await })
        };
        assert_eq!(next_text(&mut client).await.as_deref(), Some("2"));
        client.send(Message::text("3")).await.unwrap();
        assert_eq!(next_text(&mut client).await.as_deref(), Some("2"));
        // No answer: the close packet follows within the timeout.
        assert_eq!(next_text(&mut client).await.as_deref(), Some("1"));
        tokio::time::timeout(TIMEOUT, conn)
            .await
            .expect("the connection ends")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            *engine.handler.disconnects.lock().unwrap(),
            [DisconnectReason::HeartbeatTimeout]
        );
        assert!(engine.get_socket(socket.id).is_none());
    }

    /// The client's close ends the session as a transport close.
    #[tokio::test]
    async fn the_clients_close_ends_the_session() {
        let engine = engine(EngineIoConfig::default());
        let socket = session(&engine);
        let (server, mut client) = ws_pair().await;
        let conn = {
            let (engine, socket) = (engine.clone(), socket.clone());
            tokio::spawn(
                async move { run(&engine, &socket, server, heartbeat(10_000, 10_000)).await },
            )
        };
        assert_eq!(next_text(&mut client).await.as_deref(), Some("2"));
        client.send(Message::text("1")).await.unwrap();
        tokio::time::timeout(TIMEOUT, conn)
            .await
            .expect("the connection ends")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            *engine.handler.disconnects.lock().unwrap(),
            [DisconnectReason::TransportClose]
        );
    }
}
