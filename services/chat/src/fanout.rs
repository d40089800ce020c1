//! Durable message events in, Socket.IO emits out: settles this node's waiting
//! acknowledgements and emits `chat.message.incoming` to the group's room on this node.

use hubbub_proto::events::{MessageEvent, message_event::Event};
use prost::Message as _;
use socketioxide::SocketIo;

use crate::session::{group_room, socket_room};
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
    match event {
        Event::Posted(posted) => {
            let Some(message) = posted.message else {
                return;
            };
            if posted.origin_node == chat.settings.node_id {
                let key =
                    post_key(&message.group_id, &message.sender_id, message.client_msg_id.as_deref().unwrap_or(""));
                chat.settle(&key, &Outcome::Posted(message.clone()));
            }
            // A duplicate was fanned out when it was first stored.
            if !posted.duplicate {
                let room = group_room(&message.group_id);
                let except = socket_room(&posted.origin_socket);
                let json = hubbub_api::Message::from(message);
                if let Err(e) = io.to(room).except(except).emit("chat.message.incoming", &json).await {
                    tracing::warn!(error = %e, "emitting chat.message.incoming");
                }
            }
        }
        Event::Rejected(r) => {
            if r.origin_node == chat.settings.node_id {
                let key = post_key(&r.group_id, &r.sender_id, &r.client_msg_id);
                chat.settle(&key, &Outcome::Rejected { code: r.code, message: r.message });
            }
        }
    }
}
