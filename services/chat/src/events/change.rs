//! `chat.message.edit {messageId, content}` and `chat.message.delete {messageId}` → `{ok,
//! message}` once the change is durable. The message service decides (the sender edits; the
//! sender or a group admin+ deletes) and orders the change with the group's posts.

use hubbub_proto::message::{DeleteMessageRequest, EditMessageRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::{ctx_of, refusal, respond, user_of};
use crate::state::Chat;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edit {
    message_id: String,
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delete {
    message_id: String,
}

/// `chat.message.edit`.
pub async fn edit(s: SocketRef, TryData(payload): TryData<Edit>, ack: AckSender, State(chat): State<Chat>) {
    respond(&s, &chat, ack, payload, |p: Edit| async {
        let req = EditMessageRequest { message_id: p.message_id, content: p.content };
        let user = user_of(&s)?;
        answer(chat.messages.clone().edit_message(ctx_of(&s, &user).request(req)).await)
    })
    .await;
}

/// `chat.message.delete`.
pub async fn delete(s: SocketRef, TryData(payload): TryData<Delete>, ack: AckSender, State(chat): State<Chat>) {
    respond(&s, &chat, ack, payload, |p: Delete| async {
        let req = DeleteMessageRequest { message_id: p.message_id };
        let user = user_of(&s)?;
        answer(chat.messages.clone().delete_message(ctx_of(&s, &user).request(req)).await)
    })
    .await;
}

/// The ack of a change: the message as it now stands, or the service's coded refusal.
fn answer(
    result: Result<tonic::Response<hubbub_proto::message::Message>, tonic::Status>,
) -> Result<Value, (&'static str, String)> {
    match result {
        Ok(m) => Ok(json!({ "ok": true, "message": hubbub_api::Message::from(m.into_inner()) })),
        Err(status) => Err(refusal(&status)),
    }
}
