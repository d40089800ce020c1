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

/// The group a room is the room of, if it is a group's.
pub fn group_of_room(room: &str) -> Option<&str> {
    room.strip_prefix("g:")
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
///
/// Order matters, because group and auth events keep flowing while a socket connects. The
/// socket joins its user's room first, so membership changes from then on move it too; the
/// group list is read twice, before and after joining the group rooms, so a removal applied in
/// between is undone; and `on_connect` checks revocation once more after the socket is live.
pub async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<Handshake>,
    State(chat): State<Chat>,
) -> Result<(), Refused> {
    let token = auth.map_err(|_| Refused::Unauthorized)?.token;
    let claims = chat.tokens.verify(&token).map_err(|_| Refused::Unauthorized)?;
    s.extensions.insert(User(claims.sub.as_str().into()));
    s.extensions.insert(Session(claims.sid.as_str().into()));
    s.join([user_room(&claims.sub), socket_room(&s.id.to_string())]);
    if revoked(&chat, &claims.sub, &claims.sid).await? {
        return Err(Refused::Unauthorized);
    }
    let ctx = Ctx::new(session_request_id(&s)).as_user(claims.sub.clone());
    let list = || {
        let mut groups = chat.groups.clone();
        let req = ctx.request(ListUserGroupsRequest { user_id: claims.sub.clone() });
        async move {
            groups.list_user_groups(req).await.map(|r| r.into_inner().group_ids).map_err(|e| {
                tracing::warn!(error = %e, "listing a connecting user's groups");
                Refused::ServerError
            })
        }
    };
    let first = list().await?;
    s.join(first.iter().map(|g| group_room(g)).collect::<Vec<_>>());
    let now = list().await?;
    let gone: Vec<String> = first.iter().filter(|g| !now.contains(g)).map(|g| group_room(g)).collect();
    if !gone.is_empty() {
        s.leave(gone);
    }
    s.join(now.iter().map(|g| group_room(g)).collect::<Vec<_>>());
    register_events(&s, &chat);
    Ok(())
}

async fn revoked(chat: &Chat, user: &str, sid: &str) -> Result<bool, Refused> {
    chat.redis.is_revoked(user, sid).await.map_err(|e| {
        tracing::warn!(error = %e, "checking token revocation");
        Refused::ServerError
    })
}

/// A request id for work a socket starts: its session id, so its logs line up.
fn session_request_id(s: &SocketRef) -> String {
    s.id.to_string()
}

/// Connect handler: close the socket if its session was revoked while it connected (the event
/// could not find it before it was live), else mark the user present.
pub async fn on_connect(s: SocketRef, State(chat): State<Chat>) {
    tracing::info!(sid = %s.id, "socket connected");
    let (Some(User(user)), Some(Session(sid))) = (s.extensions.get::<User>(), s.extensions.get::<Session>()) else {
        return;
    };
    if !matches!(revoked(&chat, &user, &sid).await, Ok(false)) {
        tracing::info!(sid = %s.id, "session revoked while connecting: closing");
        let _ = s.disconnect();
        return;
    }
    crate::presence::socket_alive(&chat, &s, &user).await;
}

/// The socket's event handlers. Registered by the middleware, before socketioxide sends the
/// CONNECT packet: the connect handler runs only after it, and a client may emit the moment it
/// sees `connect`; an event that arrived before its handler would be dropped.
fn register_events(s: &SocketRef, chat: &Chat) {
    // The socket's line of sends (crate::order::Line) is made by its first send: a socket that
    // only listens never pays for it.
    s.extensions.insert(crate::presence::Lease::default());
    s.extensions.insert(crate::events::Allowance::new(chat.settings.socket_events_per_sec));
    s.on("chat.message.send", crate::events::send::handle);
    s.on("chat.message.seen", crate::events::seen::handle);
    s.on("chat.message.edit", crate::events::change::edit);
    s.on("chat.message.delete", crate::events::change::delete);
    s.on("chat.typing", crate::typing::handle);
    s.on("chat.sync", crate::events::sync::handle);
    s.on("user.heartbeat", crate::events::heartbeat);
    // The closure's own body runs at once, inside socketioxide's close, before the socket leaves
    // its rooms; an async fn's body would first run later, when a second close (the transport
    // ending after the client's DISCONNECT packet) may already have taken the rooms away.
    s.on_disconnect(|s: SocketRef, State(chat): State<Chat>| {
        let groups = crate::presence::groups_of(&s);
        async move {
            if let Some(User(user)) = s.extensions.get::<User>() {
                crate::presence::socket_gone(&chat, &s, &user, groups).await;
            }
        }
    });
}
