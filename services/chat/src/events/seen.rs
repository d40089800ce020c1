//! `chat.message.seen {groupId, seq}` → `{ok}`: the socket's user has seen everything of the
//! group up to `seq`. Noted at once and sent with the node's next receipt flush; the message
//! service clamps it to the group's last seq and only ever moves it forward.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::{check_member, respond, user_of};
use crate::state::Chat;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    group_id: String,
    seq: u64,
}

/// The event handler.
pub async fn handle(s: SocketRef, TryData(payload): TryData<Payload>, ack: AckSender, State(chat): State<Chat>) {
    respond(&s, &chat, ack, payload, |p| seen(&s, &chat, p)).await;
}

async fn seen(s: &SocketRef, chat: &Chat, p: Payload) -> Result<Value, (&'static str, String)> {
    let user = user_of(s)?;
    check_member(s, chat, &user, &p.group_id).await?;
    chat.receipts().seen(&p.group_id, user, p.seq);
    Ok(json!({ "ok": true }))
}
