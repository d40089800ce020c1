//! Connecting: the access token is checked before the socket enters the namespace, and the
//! socket joins its rooms (its user's groups, its user, itself) before the client sees
//! `connect`, so no message sent after that moment can miss it.

use std::fmt;
use std::sync::Arc;

use hubbub_proto::group::ListUserGroupsRequest;
use hubbub_rpc::Ctx;
use serde::Deserialize;
use socketioxide::extract::{SocketRef, State, TryData};

use crate::state::Chat;

/// The authenticated user of a socket (in its extensions).
#[derive(Clone, Debug)]
pub struct User(pub Arc<str>);

/// The session (refresh-token family) a socket's token belongs to (in its extensions).
#[derive(Clone, Debug)]
pub struct Session(pub Arc<str>);

/// The room of a group.
pub fn group_room(group_id: &str) -> String {
    format!("g:{group_id}")
}

/// The room of one socket (to leave it out of a broadcast).
pub fn socket_room(sid: &str) -> String {
    format!("s:{sid}")
}

/// The room of every socket of a user.
pub fn user_room(user_id: &str) -> String {
    format!("u:{user_id}")
}

#[derive(Deserialize)]
pub struct Handshake {
    token: String,
}

/// Why a connection was refused (sent as the `connect_error` message).
#[derive(Debug)]
pub enum Refused {
    /// No token, or a bad or expired one.
    Unauthorized,
    /// The group service could not be asked.
    ServerError,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Unauthorized => "UNAUTHORIZED",
            Refused::ServerError => "SERVER_ERROR",
        })
    }
}

/// Connect middleware: authenticate, then join rooms.
pub async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<Handshake>,
    State(chat): State<Chat>,
) -> Result<(), Refused> {
    let token = auth.map_err(|_| Refused::Unauthorized)?.token;
    let claims = chat.tokens.verify(&token).map_err(|_| Refused::Unauthorized)?;
    let revoked = chat.redis.is_revoked(&claims.sub, &claims.sid).await.map_err(|e| {
        tracing::warn!(error = %e, "checking token revocation");
        Refused::ServerError
    })?;
    if revoked {
        return Err(Refused::Unauthorized);
    }
    let ctx = Ctx::new(session_request_id(&s)).as_user(claims.sub.clone());
    let groups = chat
        .groups
        .clone()
        .list_user_groups(ctx.request(ListUserGroupsRequest { user_id: claims.sub.clone() }))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "listing a connecting user's groups");
            Refused::ServerError
        })?
        .into_inner();
    let mut rooms: Vec<String> = groups.group_ids.iter().map(|g| group_room(g)).collect();
    rooms.push(user_room(&claims.sub));
    rooms.push(socket_room(&s.id.to_string()));
    s.join(rooms);
    s.extensions.insert(User(claims.sub.into()));
    s.extensions.insert(Session(claims.sid.into()));
    register_events(&s);
    Ok(())
}

/// A request id for work a socket starts: its session id, so its logs line up.
fn session_request_id(s: &SocketRef) -> String {
    s.id.to_string()
}

/// Connect handler: mark the user present.
pub async fn on_connect(s: SocketRef, State(chat): State<Chat>) {
    tracing::info!(sid = %s.id, "socket connected");
    if let Some(User(user)) = s.extensions.get::<User>() {
        crate::presence::socket_alive(&chat, &user, &s.id.to_string()).await;
    }
}

/// The socket's event handlers. Registered by the middleware, before socketioxide sends the
/// CONNECT packet: the connect handler runs only after it, and a client may emit the moment it
/// sees `connect`; an event that arrived before its handler would be dropped.
fn register_events(s: &SocketRef) {
    s.on("chat.message.send", crate::events::send::handle);
    s.on_disconnect(on_disconnect);
}

async fn on_disconnect(s: SocketRef, State(chat): State<Chat>) {
    if let Some(User(user)) = s.extensions.get::<User>() {
        crate::presence::socket_gone(&chat, &user, &s.id.to_string()).await;
    }
}
