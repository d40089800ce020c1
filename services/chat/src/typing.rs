//! Typing: `chat.typing {groupId, isTyping}` from a member crosses every node through Redis
//! pub/sub (never stored) and reaches the group's other members as `chat.typing {groupId,
//! userId, isTyping}`, never the typist's own sockets. A typist who stops refreshing is
//! announced as stopped after `typing_ttl_ms`, by every node for its own sockets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use tokio_util::sync::CancellationToken;

use crate::events::respond;
use crate::session::{User, group_room, user_room};
use crate::state::Chat;

/// The pub/sub channel (under the Redis key prefix).
const CHANNEL: &str = "typing";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    group_id: String,
    is_typing: bool,
}

/// What crosses nodes.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Typing {
    group_id: String,
    user_id: String,
    is_typing: bool,
}

/// The `chat.typing` handler.
pub async fn handle(s: SocketRef, TryData(payload): TryData<Payload>, ack: AckSender, State(chat): State<Chat>) {
    respond(&s, &chat, ack, payload, |p| typing(&s, &chat, p)).await;
}

async fn typing(s: &SocketRef, chat: &Chat, p: Payload) -> Result<Value, (&'static str, String)> {
    let Some(User(user)) = s.extensions.get::<User>() else {
        return Err(("UNAUTHORIZED", "socket is not authenticated".into()));
    };
    // Members only, and cheaply: the socket's rooms follow membership.
    if p.group_id.is_empty() || !s.rooms().iter().any(|r| *r == group_room(&p.group_id)) {
        return Err(("NOT_A_MEMBER", "not a member of this group".into()));
    }
    let news = Typing { group_id: p.group_id, user_id: user.to_string(), is_typing: p.is_typing };
    let payload = serde_json::to_vec(&news).unwrap_or_default();
    chat.redis.publish(CHANNEL, &payload).await.map_err(|e| {
        tracing::warn!(error = %e, "publishing typing");
        ("SERVER_ERROR", "typing could not be shared, try again".to_owned())
    })?;
    Ok(json!({ "ok": true }))
}

/// Relays typing from every node to this node's sockets until `shutdown`, and announces
/// typists who went quiet as stopped.
pub async fn run(io: SocketIo, chat: Chat, shutdown: CancellationToken) {
    let ttl = Duration::from_millis(chat.settings.typing_ttl_ms.max(1));
    // (group, user) → when the typist is taken to have stopped.
    let mut typists: HashMap<(String, Arc<str>), Instant> = HashMap::new();
    let mut sweep = tokio::time::interval(ttl / 4);
    while let Some(mut news) = crate::state::subscribe(&chat, CHANNEL, &shutdown).await {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = sweep.tick() => {
                    let now = Instant::now();
                    let quiet: Vec<(String, Arc<str>)> =
                        typists.iter().filter(|(_, until)| **until <= now).map(|(k, _)| k.clone()).collect();
                    for (group, user) in quiet {
                        typists.remove(&(group.clone(), user.clone()));
                        emit(&io, &Typing { group_id: group, user_id: user.to_string(), is_typing: false }).await;
                    }
                }
                payload = news.next() => {
                    let Some(payload) = payload else { break }; // the connection broke: subscribe again
                    let Ok(t) = serde_json::from_slice::<Typing>(&payload) else { continue };
                    let key = (t.group_id.clone(), Arc::from(t.user_id.as_str()));
                    if t.is_typing {
                        typists.insert(key, Instant::now() + ttl);
                    } else {
                        typists.remove(&key);
                    }
                    emit(&io, &t).await;
                }
            }
        }
    }
}

async fn emit(io: &SocketIo, t: &Typing) {
    let out = json!({ "groupId": t.group_id, "userId": t.user_id, "isTyping": t.is_typing });
    if let Err(e) = io.to(group_room(&t.group_id)).except(user_room(&t.user_id)).emit("chat.typing", &out).await {
        crate::fanout::emit_failed("chat.typing", &e);
    }
}
