//! Client → server events, one file each, and their acknowledgement shape:
//! `{ ok: true, ... }` or `{ ok: false, error: { code, message } }`.

pub mod change;
pub mod seen;
pub mod send;
pub mod sync;

use hubbub_proto::group::GetMembershipRequest;
use hubbub_rpc::Ctx;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, State};

use crate::session::{User, group_room};
use crate::state::Chat;

/// A failed acknowledgement.
pub fn error(code: &str, message: impl Into<String>) -> Value {
    json!({ "ok": false, "error": { "code": code, "message": message.into() } })
}

/// The API code of a refusal from another service (its `x-hubbub-code`), or SERVER_ERROR.
pub fn refusal(status: &tonic::Status) -> (&'static str, String) {
    let code = hubbub_rpc::api_code(status);
    let known = [
        "INVALID_MESSAGE",
        "NOT_A_MEMBER",
        "GROUP_NOT_FOUND",
        "MESSAGE_NOT_FOUND",
        "FORBIDDEN",
        "RATE_LIMIT_EXCEEDED",
        "VALIDATION_ERROR",
    ];
    match known.iter().find(|k| Some(**k) == code) {
        Some(&"VALIDATION_ERROR") => ("INVALID_MESSAGE", status.message().to_owned()),
        Some(k) => (k, status.message().to_owned()),
        None => {
            tracing::warn!(error = %status, "a service call failed");
            ("SERVER_ERROR", "the server could not do that now, try again".to_owned())
        }
    }
}

/// Refuses a socket whose user is not a member of `group_id`. The socket's rooms follow
/// membership events, so being in the room is a member's fast path; a socket not (yet) in the
/// room asks the group service before being refused (it does not join here: rooms move only
/// with events, which a join here could race). The message service checks again at write
/// time, so a removal is never outrun.
pub async fn check_member(
    s: &SocketRef,
    chat: &Chat,
    user: &str,
    group_id: &str,
) -> Result<(), (&'static str, String)> {
    if group_id.is_empty() {
        return Err(("INVALID_MESSAGE", "groupId is required".into()));
    }
    if s.rooms().iter().any(|r| *r == group_room(group_id)) {
        return Ok(());
    }
    let ctx = Ctx::new(s.id.to_string()).as_user(user.to_owned());
    let req = GetMembershipRequest { group_id: group_id.to_owned(), user_id: user.to_owned() };
    let membership = chat.groups.clone().get_membership(ctx.request(req)).await.map_err(|e| {
        tracing::warn!(error = %e, "membership check");
        ("SERVER_ERROR", "could not check membership, try again".to_owned())
    })?;
    if !membership.into_inner().member {
        return Err(("NOT_A_MEMBER", "not a member of this group".into()));
    }
    Ok(())
}

/// The socket's user, or UNAUTHORIZED.
pub fn user_of(s: &SocketRef) -> Result<std::sync::Arc<str>, (&'static str, String)> {
    s.extensions.get::<User>().map(|User(u)| u).ok_or(("UNAUTHORIZED", "socket is not authenticated".into()))
}

/// A request context for work a socket asks of other services.
pub fn ctx_of(s: &SocketRef, user: &str) -> Ctx {
    Ctx::new(s.id.to_string()).as_user(user.to_owned())
}

/// `user.heartbeat {}` → `{ok}`: renews the socket's presence lease now.
pub async fn heartbeat(s: SocketRef, ack: AckSender, State(chat): State<Chat>) {
    let reply = match user_of(&s) {
        Ok(user) => {
            crate::presence::socket_alive(&chat, &user, &s.id.to_string()).await;
            json!({ "ok": true })
        }
        Err((code, msg)) => error(code, msg),
    };
    let _ = ack.send(&reply);
}
