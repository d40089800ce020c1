//! `chat.message.edit {messageId, content}` and `chat.message.delete {messageId}` → `{ok,
//! message}` once the change is durable. The message service decides (the sender edits; the
//! sender or a group admin+ deletes) and orders the change with the group's posts.

use hubbub_proto::message::{DeleteMessageRequest, EditMessageRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::{ctx_of, error, refusal, user_of};
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
    let reply = match payload {
        Ok(p) => {
            let req = EditMessageRequest { message_id: p.message_id, content: p.content };
            answer(&s, |ctx| async move { chat.messages.clone().edit_message(ctx.request(req)).await }).await
        }
        Err(e) => error("INVALID_MESSAGE", format!("malformed payload: {e}")),
    };
    let _ = ack.send(&reply);
}

/// `chat.message.delete`.
pub async fn delete(s: SocketRef, TryData(payload): TryData<Delete>, ack: AckSender, State(chat): State<Chat>) {
    let reply = match payload {
        Ok(p) => {
            let req = DeleteMessageRequest { message_id: p.message_id };
            answer(&s, |ctx| async move { chat.messages.clone().delete_message(ctx.request(req)).await }).await
        }
        Err(e) => error("INVALID_MESSAGE", format!("malformed payload: {e}")),
    };
    let _ = ack.send(&reply);
}

async fn answer<F, Fut>(s: &SocketRef, call: F) -> Value
where
    F: FnOnce(hubbub_rpc::Ctx) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<hubbub_proto::message::Message>, tonic::Status>>,
{
    let user = match user_of(s) {
        Ok(u) => u,
        Err((code, msg)) => return error(code, msg),
    };
    match call(ctx_of(s, &user)).await {
        Ok(m) => json!({ "ok": true, "message": hubbub_api::Message::from(m.into_inner()) }),
        Err(status) => {
            let (code, msg) = refusal(&status);
            error(code, msg)
        }
    }
}
