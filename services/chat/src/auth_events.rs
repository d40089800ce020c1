//! Auth events in, closed sockets out: a revoked session's sockets, a deleted account's
//! sockets, or every socket of a user an administrator disconnects, on this node.

use hubbub_proto::events::{AuthEvent, auth_event::Event};
use prost::Message as _;
use socketioxide::SocketIo;

use crate::session::{Session, user_room};

/// Applies one record of `auth.events`.
pub fn handle(io: &SocketIo, payload: &[u8]) {
    match AuthEvent::decode(payload) {
        Ok(event) => apply(io, event),
        Err(e) => tracing::warn!(error = %e, "skipping an undecodable auth event"),
    }
}

fn apply(io: &SocketIo, e: AuthEvent) {
    let Some(event) = e.event else { return };
    let sockets = io.to(user_room(&e.user_id)).sockets();
    let closing: Vec<_> = match &event {
        Event::SessionsRevoked(r) => sockets
            .into_iter()
            .filter(|s| {
                s.extensions.get::<Session>().is_some_and(|Session(sid)| r.session_ids.iter().any(|x| **x == *sid))
            })
            .collect(),
        Event::AccountDeleted(_) | Event::DisconnectRequested(_) => sockets,
    };
    for s in closing {
        tracing::info!(sid = %s.id, user_id = %e.user_id, "closing a socket: its session ended");
        if let Err(err) = s.disconnect() {
            tracing::debug!(error = %err, "socket already gone");
        }
    }
}
