//! Client → server events, one file each, and their acknowledgement shape:
//! `{ ok: true, ... }` or `{ ok: false, error: { code, message } }`.

pub mod change;
pub mod seen;
pub mod send;
pub mod sync;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A coded refusal, as the ack carries it.
pub struct Refusal(Value);

impl Refusal {
    /// Its error code.
    pub fn code(&self) -> Option<&str> {
        self.0.pointer("/error/code").and_then(Value::as_str)
    }
}

impl From<(&'static str, String)> for Refusal {
    fn from((code, message): (&'static str, String)) -> Self {
        Refusal(error(code, message))
    }
}

/// A refusal for going past a limit: `RATE_LIMIT_EXCEEDED`, with when to try again.
pub fn limited(what: &str, retry_after: Duration) -> Refusal {
    metrics::counter!("rate_limit_refusals_total", "where" => "socket").increment(1);
    let ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX).max(1);
    Refusal(json!({ "ok": false, "error": {
        "code": "RATE_LIMIT_EXCEEDED",
        "message": format!("{what}: try again in {ms} ms"),
        "retryAfterMs": ms,
    } }))
}

/// One socket's allowance of events (in its extensions): a token bucket of
/// `socket_events_per_sec`, refilled continuously.
#[derive(Clone)]
pub struct Allowance(Arc<Mutex<(f64, Instant)>>);

impl Allowance {
    /// A full bucket.
    pub fn new(per_sec: u32) -> Self {
        Self(Arc::new(Mutex::new((f64::from(per_sec), Instant::now()))))
    }
}

/// Takes one of the socket's events; past its allowance the event is refused (and nothing else
/// happens to the connection).
pub fn admit(s: &SocketRef, chat: &Chat) -> Result<(), Refusal> {
    let Some(Allowance(bucket)) = s.extensions.get::<Allowance>() else { return Ok(()) };
    let rate = f64::from(chat.settings.socket_events_per_sec.max(1));
    let Ok(mut b) = bucket.lock() else { return Ok(()) };
    let now = Instant::now();
    b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(rate);
    b.1 = now;
    if b.0 >= 1.0 {
        b.0 -= 1.0;
        return Ok(());
    }
    Err(limited("too many events on this socket", Duration::from_secs_f64((1.0 - b.0) / rate)))
}

/// The API codes a client may be refused with (API.md's, and the message service's
/// `MESSAGE_NOT_FOUND` and `FORBIDDEN`); another service's `VALIDATION_ERROR` is an
/// `INVALID_MESSAGE` here. `None` for anything else, which the client sees as SERVER_ERROR.
pub fn client_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "INVALID_MESSAGE" | "VALIDATION_ERROR" => "INVALID_MESSAGE",
        "NOT_A_MEMBER" => "NOT_A_MEMBER",
        "GROUP_NOT_FOUND" => "GROUP_NOT_FOUND",
        "MESSAGE_NOT_FOUND" => "MESSAGE_NOT_FOUND",
        "FORBIDDEN" => "FORBIDDEN",
        "RATE_LIMIT_EXCEEDED" => "RATE_LIMIT_EXCEEDED",
        _ => return None,
    })
}

/// The refusal of another service's error status: its API code (`x-hubbub-error-code`) where
/// the client may see it, else SERVER_ERROR.
pub fn refusal(status: &tonic::Status) -> (&'static str, String) {
    match hubbub_rpc::api_code(status).and_then(client_code) {
        Some(code) => (code, status.message().to_owned()),
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

/// What a client event handler does: take one of the socket's events (or refuse past its
/// allowance), refuse a malformed payload with INVALID_MESSAGE, else run `work`; then answer the
/// ack with the result or the coded refusal.
pub async fn respond<P, E, R, F, Fut>(s: &SocketRef, chat: &Chat, ack: AckSender, payload: Result<P, E>, work: F)
where
    E: std::fmt::Display,
    R: Into<Refusal>,
    F: FnOnce(P) -> Fut,
    Fut: std::future::Future<Output = Result<Value, R>>,
{
    let reply = match (admit(s, chat), payload) {
        (Err(Refusal(refused)), _) => refused,
        (Ok(()), Err(e)) => error("INVALID_MESSAGE", format!("malformed payload: {e}")),
        (Ok(()), Ok(p)) => work(p).await.unwrap_or_else(|r| r.into().0),
    };
    // A client that passed no callback gets nothing; that is its choice.
    let _ = ack.send(&reply);
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
    respond(&s, &chat, ack, Ok::<(), std::convert::Infallible>(()), |()| async {
        let user = user_of(&s).map_err(Refusal::from)?;
        crate::presence::socket_alive(&chat, &s, &user).await;
        Ok::<_, Refusal>(json!({ "ok": true }))
    })
    .await;
}
