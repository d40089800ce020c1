//! Presence: each socket holds a lease in Redis that this node renews; a user is online while
//! any lease lives, on any node. When a user's first socket connects or their last one closes,
//! the change crosses every node through Redis pub/sub and reaches the members of the user's
//! groups as `user.presence {userId, online, lastSeenAt?}` (not the user's own sockets); the
//! user service records last-seen. The node also reports itself (and its connection count) for
//! the admin view.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use hubbub_proto::user::TouchLastSeenRequest;
use hubbub_rpc::Ctx;
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use tokio_util::sync::CancellationToken;

use crate::session::{User, group_of_room, group_room, user_room};
use crate::state::Chat;

/// The pub/sub channel (under the Redis key prefix).
const CHANNEL: &str = "presence";

/// A user came online or went offline, and the groups whose members are told.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Change {
    user_id: String,
    online: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_at: Option<String>,
    groups: Vec<String>,
}

/// A socket's presence lease, in its extensions: the connect handler, heartbeats and the
/// disconnect handler each hold it while they talk to Redis, and once the socket is gone nothing
/// records a lease for it again. Without it a socket closed while its connect handler was still
/// recording the lease (the client sees `connect` first) would leave a ghost lease behind, and
/// its user would look online, with no `user.presence` offline, until the lease lapsed.
#[derive(Clone, Default)]
pub struct Lease(Arc<tokio::sync::Mutex<bool>>);

/// The groups a socket is in (its group rooms).
pub fn groups_of(s: &SocketRef) -> Vec<String> {
    s.rooms().iter().filter_map(|r| group_of_room(r).map(str::to_owned)).collect()
}

fn lease(chat: &Chat) -> Duration {
    Duration::from_secs(chat.settings.presence_ttl_secs)
}

fn member(chat: &Chat, sid: &str) -> String {
    format!("{}:{sid}", chat.settings.node_id)
}

/// A socket `s` of `user` connected (or renewed its lease); when the user had no other live
/// socket, their groups hear they are online.
pub async fn socket_alive(chat: &Chat, s: &SocketRef, user: &str) {
    let Some(Lease(held)) = s.extensions.get::<Lease>() else { return };
    let gone = held.lock().await;
    if *gone {
        return;
    }
    match chat.redis.socket_alive(user, &member(chat, &s.id.to_string()), hubbub_api::now_ms(), lease(chat)).await {
        Ok(true) => {
            announce(chat, Change { user_id: user.to_owned(), online: true, last_seen_at: None, groups: groups_of(s) })
                .await
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "recording presence"),
    }
}

/// A socket `s` of `user`, which was in `groups`, closed; when it was the last one, record
/// last-seen and tell those groups they are offline.
pub async fn socket_gone(chat: &Chat, s: &SocketRef, user: &str, groups: Vec<String>) {
    let Some(Lease(held)) = s.extensions.get::<Lease>() else { return };
    let mut gone = held.lock().await;
    *gone = true;
    let now = hubbub_api::now_ms();
    let sid = s.id.to_string();
    match chat.redis.socket_gone(user, &member(chat, &sid), now).await {
        Ok(true) => {}
        Ok(false) => {
            // Told first: the groups need not wait for the user service.
            let last_seen_at = Some(hubbub_api::timestamp(now));
            announce(chat, Change { user_id: user.to_owned(), online: false, last_seen_at, groups }).await;
            let req = Ctx::new(&sid).request(TouchLastSeenRequest { id: user.to_owned(), at_ms: now });
            if let Err(e) = chat.users.clone().touch_last_seen(req).await {
                tracing::warn!(error = %e, "recording last-seen");
            }
        }
        Err(e) => tracing::warn!(error = %e, "clearing presence"),
    }
}

async fn announce(chat: &Chat, change: Change) {
    if change.groups.is_empty() {
        return;
    }
    let payload = serde_json::to_vec(&change).unwrap_or_default();
    if let Err(e) = chat.redis.publish(CHANNEL, &payload).await {
        tracing::warn!(error = %e, "publishing presence");
    }
}

/// Relays presence changes from every node to this node's sockets until `shutdown`.
pub async fn relay(io: SocketIo, chat: Chat, shutdown: CancellationToken) {
    while let Some(mut changes) = crate::state::subscribe(&chat, CHANNEL, &shutdown).await {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                payload = changes.next() => {
                    let Some(payload) = payload else { break }; // the connection broke: subscribe again
                    let Ok(c) = serde_json::from_slice::<Change>(&payload) else { continue };
                    let rooms: Vec<String> = c.groups.iter().map(|g| group_room(g)).collect();
                    let out = serde_json::json!({ "userId": c.user_id, "online": c.online, "lastSeenAt": c.last_seen_at });
                    if let Err(e) = io.to(rooms).except(user_room(&c.user_id)).emit("user.presence", &out).await {
                        crate::fanout::emit_failed("user.presence", &e);
                    }
                }
            }
        }
    }
}

/// Renews every local socket's lease and the node's report until `shutdown`; then withdraws
/// the report.
pub async fn run(io: SocketIo, chat: Chat, shutdown: CancellationToken) {
    let every = Duration::from_secs(chat.settings.presence_refresh_secs.max(1));
    loop {
        let sockets = io.sockets();
        let now = hubbub_api::now_ms();
        let leases: Vec<(std::sync::Arc<str>, String)> = sockets
            .iter()
            .filter(|s| s.connected())
            .filter_map(|s| s.extensions.get::<User>().map(|User(u)| (u, member(&chat, &s.id.to_string()))))
            .collect();
        // Pipelined, a thousand leases per round trip, instead of one round trip per socket.
        for chunk in leases.chunks(1000) {
            let pairs: Vec<(&str, &str)> = chunk.iter().map(|(u, m)| (&**u, m.as_str())).collect();
            if let Err(e) = chat.redis.sockets_alive(&pairs, now, lease(&chat)).await {
                tracing::warn!(error = %e, "renewing presence");
                break;
            }
        }
        let count = u64::try_from(sockets.len()).unwrap_or(u64::MAX);
        #[allow(clippy::cast_precision_loss)] // a socket count fits an f64 exactly
        metrics::gauge!("chat_sockets_connected").set(count as f64);
        if let Err(e) = chat.redis.node_report(&chat.settings.node_id, count, now, lease(&chat)).await {
            tracing::warn!(error = %e, "reporting the node");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    if let Err(e) = chat.redis.node_gone(&chat.settings.node_id).await {
        tracing::warn!(error = %e, "withdrawing the node report");
    }
}
