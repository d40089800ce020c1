//! Presence: each socket holds a lease in Redis that this node renews; a user is online while
//! any lease lives, on any node. When a user's last socket closes, the user service records
//! last-seen. The node also reports itself (and its connection count) for the admin view.

use std::time::Duration;

use hubbub_proto::user::TouchLastSeenRequest;
use hubbub_rpc::Ctx;
use socketioxide::SocketIo;
use tokio_util::sync::CancellationToken;

use crate::session::User;
use crate::state::Chat;

fn lease(chat: &Chat) -> Duration {
    Duration::from_secs(chat.settings.presence_ttl_secs)
}

fn member(chat: &Chat, sid: &str) -> String {
    format!("{}:{sid}", chat.settings.node_id)
}

/// A socket of `user` connected.
pub async fn socket_alive(chat: &Chat, user: &str, sid: &str) {
    if let Err(e) = chat.redis.socket_alive(user, &member(chat, sid), hubbub_api::now_ms(), lease(chat)).await {
        tracing::warn!(error = %e, "recording presence");
    }
}

/// A socket of `user` closed; when it was the last one, record last-seen.
pub async fn socket_gone(chat: &Chat, user: &str, sid: &str) {
    let now = hubbub_api::now_ms();
    match chat.redis.socket_gone(user, &member(chat, sid), now).await {
        Ok(true) => {}
        Ok(false) => {
            let req = Ctx::new(sid).request(TouchLastSeenRequest { id: user.to_owned(), at_ms: now });
            if let Err(e) = chat.users.clone().touch_last_seen(req).await {
                tracing::warn!(error = %e, "recording last-seen");
            }
        }
        Err(e) => tracing::warn!(error = %e, "clearing presence"),
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
