//! Durable message events in, Socket.IO emits out: settles this node's waiting
//! acknowledgements, emits `chat.message.incoming` (and edits, deletes and receipts) to the
//! group's room on this node, and notes who was handed each new message (delivered receipts).

use std::sync::Arc;

use hubbub_proto::events::{MessageEvent, message_event::Event};
use prost::Message as _;
use serde_json::json;
use socketioxide::{BroadcastError, SocketError, SocketIo};

use crate::session::{User, group_room, socket_room};
use crate::state::{Chat, Outcome, post_key};

/// Applies one record of `message.events`.
pub async fn handle(io: &SocketIo, chat: &Chat, payload: &[u8]) {
    let event = match MessageEvent::decode(payload) {
        Ok(MessageEvent { event: Some(e) }) => e,
        Ok(MessageEvent { event: None }) => return,
        Err(e) => {
            tracing::warn!(error = %e, "skipping an undecodable message event");
            return;
        }
    };
    let sent = match event {
        Event::Posted(posted) => {
            let Some(message) = posted.message else {
                return;
            };
            if posted.origin_node == chat.settings.node_id {
                let key =
                    post_key(&message.group_id, &message.sender_id, message.client_msg_id.as_deref().unwrap_or(""));
                chat.waiters().settle(&key, &Outcome::Posted(message.clone()));
            }
            // A duplicate was fanned out when it was first stored.
            if posted.duplicate {
                return;
            }
            // A repeat of the event (announced again, or read twice) was fanned out here before.
            if !chat.fanned().first(&message.group_id, message.seq) {
                metrics::counter!("chat_repeats_dropped_total").increment(1);
                return;
            }
            let room = group_room(&message.group_id);
            let except = socket_room(&posted.origin_socket);
            let (group, seq, sender) = (message.group_id.clone(), message.seq, message.sender_id.clone());
            let json = hubbub_api::Message::from(message);
            let sent = io.to(room.clone()).except(except.clone()).emit("chat.message.incoming", &json).await;
            metrics::counter!("chat_messages_fanned_out_total").increment(1);
            // Everyone but the sender who was handed it here has it delivered.
            let handed = io.to(room).except(except).sockets();
            let users = handed
                .iter()
                .filter_map(|s| s.extensions.get::<User>().map(|User(u)| u))
                .filter(|u| **u != *sender)
                .collect::<std::collections::HashSet<Arc<str>>>();
            chat.receipts().delivered(&group, users, seq);
            sent
        }
        Event::Rejected(r) => {
            if r.origin_node == chat.settings.node_id {
                let key = post_key(&r.group_id, &r.sender_id, &r.client_msg_id);
                chat.waiters().settle(&key, &Outcome::Rejected { code: r.code, message: r.message });
            }
            return;
        }
        Event::Changed(c) => {
            let Some(m) = c.message else { return };
            let room = group_room(&m.group_id);
            if m.deleted {
                let out = json!({ "id": m.id, "groupId": m.group_id, "seq": m.seq });
                io.to(room).emit("chat.message.deleted", &out).await
            } else {
                io.to(room).emit("chat.message.edited", &hubbub_api::Message::from(m)).await
            }
        }
        Event::Receipts(r) => {
            if !r.fan_out {
                return;
            }
            let room = group_room(&r.group_id);
            for receipt in &r.receipts {
                let marks =
                    [("chat.message.delivered", receipt.delivered_seq), ("chat.message.seen", receipt.seen_seq)];
                for (event, seq) in marks.into_iter().filter(|(_, seq)| *seq > 0) {
                    let out = json!({ "groupId": r.group_id, "userId": receipt.user_id, "seq": seq });
                    if let Err(e) = io.to(room.clone()).emit(event, &out).await {
                        emit_failed("a receipt", &e);
                    }
                }
            }
            return;
        }
    };
    if let Err(e) = sent {
        emit_failed("a message event", &e);
    }
}

/// Logs an emit that some sockets refused. A socket that closed meanwhile is routine (debug);
/// one whose queue was full has just been closed for not reading (it reconnects and syncs), and
/// anything else is a fault (warnings).
pub(crate) fn emit_failed(what: &str, e: &BroadcastError) {
    match e {
        BroadcastError::Socket(errors) if errors.iter().all(|e| matches!(e, SocketError::Closed)) => {
            tracing::debug!(error = %e, what, "emitting to sockets that had closed");
        }
        BroadcastError::Socket(errors)
            if errors.iter().all(|e| matches!(e, SocketError::InternalChannelFull | SocketError::Closed)) =>
        {
            let full = errors.iter().filter(|e| matches!(e, SocketError::InternalChannelFull)).count();
            tracing::warn!(full, what, "sockets that did not read their queue (max_buffer_packets) were closed");
        }
        _ => tracing::warn!(error = %e, what, "emitting"),
    }
}
