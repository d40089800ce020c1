//! `chat.sync {groups: [{groupId, afterSeq}], limit?}` → `{ok, groups: [{groupId, status,
//! headSeq, readSeq}], messages, more}`: what the socket's user missed in each group since its
//! cursor, in seq order per group. The socket joined its groups' rooms when it connected, before
//! this reads, so a message is either live on the socket or in the answer (possibly both: the
//! client drops repeats by `(groupId, seq)`).

use hubbub_proto::message::{SyncCursor, SyncRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::{ctx_of, refusal, respond, user_of};
use crate::state::Chat;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    group_id: String,
    #[serde(default)]
    after_seq: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    groups: Vec<Cursor>,
    #[serde(default)]
    limit: u32,
}

/// The event handler.
pub async fn handle(s: SocketRef, TryData(payload): TryData<Payload>, ack: AckSender, State(chat): State<Chat>) {
    respond(&s, &chat, ack, payload, |p| sync(&s, &chat, p)).await;
}

async fn sync(s: &SocketRef, chat: &Chat, p: Payload) -> Result<Value, (&'static str, String)> {
    let user = user_of(s)?;
    let groups = p.groups.into_iter().map(|c| SyncCursor { group_id: c.group_id, after_seq: c.after_seq }).collect();
    let req = SyncRequest { groups, limit: p.limit };
    let resp = chat.messages.clone().sync(ctx_of(s, &user).request(req)).await.map_err(|e| refusal(&e))?.into_inner();
    let groups: Vec<Value> = resp
        .groups
        .into_iter()
        .map(|g| json!({ "groupId": g.group_id, "status": g.status, "headSeq": g.head_seq, "readSeq": g.read_seq }))
        .collect();
    // What the answer hands over counts as delivered, as a live message would.
    let mut newest: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for m in &resp.messages {
        let n = newest.entry(m.group_id.as_str()).or_default();
        *n = (*n).max(m.seq);
    }
    for (group, seq) in newest {
        chat.receipts().delivered(group, [user.clone()], seq);
    }
    let messages: Vec<hubbub_api::Message> = resp.messages.into_iter().map(Into::into).collect();
    Ok(json!({ "ok": true, "groups": groups, "messages": messages, "more": resp.more }))
}
