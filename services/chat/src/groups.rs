//! Group events in, room moves and `group.*` emits out. An added member's sockets join the
//! group's room on this node, a removed member's sockets are told and then leave it, so they
//! receive nothing more from the group; every node does the same for its own sockets.

use hubbub_proto::events::{GroupEvent, group_event::Event};
use prost::Message as _;
use serde_json::json;
use socketioxide::SocketIo;

use crate::session::{group_room, user_room};

/// Applies one record of `group.events`.
pub async fn handle(io: &SocketIo, payload: &[u8]) {
    match GroupEvent::decode(payload) {
        Ok(event) => apply(io, event).await,
        Err(e) => tracing::warn!(error = %e, "skipping an undecodable group event"),
    }
}

async fn apply(io: &SocketIo, e: GroupEvent) {
    let Some(event) = e.event else { return };
    let room = group_room(&e.group_id);
    let result = match event {
        Event::Created(c) => {
            for user in &c.member_ids {
                io.to(user_room(user)).join(room.clone()).await.ok();
            }
            match c.group {
                Some(g) => io.to(room).emit("group.created", &hubbub_api::Group::from(g)).await,
                None => Ok(()),
            }
        }
        Event::Updated(u) => match u.group {
            Some(g) => io.to(room).emit("group.updated", &hubbub_api::Group::from(g)).await,
            None => Ok(()),
        },
        Event::Deleted(_) => {
            let sent = io.to(room.clone()).emit("group.deleted", &json!({ "id": e.group_id })).await;
            io.to(room.clone()).leave(room).await.ok();
            sent
        }
        Event::MemberAdded(a) => {
            let Some(member) = a.member else { return };
            io.to(user_room(&member.user_id)).join(room.clone()).await.ok();
            let mut payload = json!({ "groupId": e.group_id, "member": hubbub_api::Member::from(member) });
            if let Some(g) = a.group {
                payload["group"] = json!(hubbub_api::Group::from(g));
            }
            io.to(room).emit("group.member.added", &payload).await
        }
        Event::MemberRemoved(r) => {
            let payload = json!({ "groupId": e.group_id, "userId": r.user_id, "left": r.left });
            let sent = io.to(room.clone()).emit("group.member.removed", &payload).await;
            io.to(user_room(&r.user_id)).leave(room).await.ok();
            sent
        }
        Event::RoleChanged(c) => {
            let Some(member) = c.member else { return };
            let payload = json!({ "groupId": e.group_id, "member": hubbub_api::Member::from(member) });
            io.to(room).emit("group.member.updated", &payload).await
        }
    };
    if let Err(err) = result {
        crate::fanout::emit_failed("a group event", &err);
    }
}
