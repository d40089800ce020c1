//! `chat.message.send {groupId, content, type?, attachments?, clientMsgId}` → ack
//! `{ok, message}` once the message is durable. A repeated clientMsgId acknowledges the first
//! message again and makes no second one, also when the sender has since been removed from the
//! group or run out of allowance (the retry of a send whose ack was lost must not read as a
//! refusal of a message that was in fact stored).

use hubbub_proto::events::{MessageCommand, PostMessage, message_command};
use hubbub_proto::message::{FindPostedRequest, Message};
use hubbub_redis::Admission;
use hubbub_rpc::Ctx;
use prost::Message as _;
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::{Refusal, respond};
use crate::order::Turn;
use crate::session::{Session, User};
use crate::state::{Chat, Outcome, post_key};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    group_id: String,
    /// Optional when the message has attachments (a caption).
    #[serde(default)]
    content: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    attachments: Vec<hubbub_api::Attachment>,
    client_msg_id: String,
}

/// The event handler.
pub async fn handle(
    s: SocketRef,
    turn: Turn,
    ack: AckSender,
    State(chat): State<Chat>,
    TryData(payload): TryData<Payload>,
) {
    let mut ended = false;
    respond(&s, &chat, ack, payload, |p| async {
        let retry = (p.group_id.clone(), p.client_msg_id.clone());
        let sent = match allowance(&s, &chat).await {
            Ok(()) => send(&s, &chat, turn, p).await.map_err(Refusal::from),
            Err(limited) => Err(limited),
        };
        ended = sent.as_ref().is_err_and(|r| r.code() == Some("UNAUTHORIZED"));
        match sent {
            // A retry gets its first answer: a send stored before its sender was removed or ran
            // out of allowance is acknowledged again, not refused. Looked up only on these
            // refusals, so a send that goes through costs no extra read.
            Err(refused)
                if matches!(refused.code(), Some("NOT_A_MEMBER" | "GROUP_NOT_FOUND" | "RATE_LIMIT_EXCEEDED")) =>
            {
                match first_copy(&s, &chat, retry).await {
                    Some(message) => Ok(json!({ "ok": true, "message": hubbub_api::Message::from(message) })),
                    None => Err(refused),
                }
            }
            other => other,
        }
    })
    .await;
    // An ended session's socket is told why, then closed.
    if ended {
        let _ = s.disconnect();
    }
}

/// The user's message allowance, shared by every node (a token bucket in Redis), checked in the
/// same round trip as the session's revocation (so a session ended while the socket was open is
/// caught here even if its event was lost). A Redis outage does not stop messages: it is logged.
async fn allowance(s: &SocketRef, chat: &Chat) -> Result<(), Refusal> {
    let (Some(User(user)), Some(Session(session))) = (s.extensions.get::<User>(), s.extensions.get::<Session>()) else {
        return Ok(()); // refused as unauthenticated by `send`
    };
    let period = std::time::Duration::from_secs(chat.settings.message_limit_secs.max(1));
    match chat.redis.take_message_token((&*user, &*session), chat.settings.message_limit, period).await {
        Ok(Admission::Admitted) => Ok(()),
        Ok(Admission::Revoked) => Err(Refusal::from(("UNAUTHORIZED", "the session has ended".to_owned()))),
        Ok(Admission::Limited(wait)) => Err(super::limited("too many messages", wait)),
        Err(e) => {
            tracing::warn!(error = %e, "checking the message limit and the session");
            Ok(())
        }
    }
}

/// The message this socket's user already stored under `(group, clientMsgId)`, if any. An
/// unanswered lookup counts as none: the refusal stands, and the client may retry.
async fn first_copy(s: &SocketRef, chat: &Chat, (group_id, client_msg_id): (String, String)) -> Option<Message> {
    let User(user) = s.extensions.get::<User>()?;
    if group_id.is_empty() || client_msg_id.is_empty() {
        return None;
    }
    let ctx = Ctx::new(s.id.to_string()).as_user(user.to_string());
    let req = ctx.request(FindPostedRequest { group_id, client_msg_id });
    match chat.messages.clone().find_posted(req).await {
        Ok(found) => found.into_inner().message,
        Err(e) => {
            tracing::warn!(error = %e, "looking up a retried send");
            None
        }
    }
}

async fn send(s: &SocketRef, chat: &Chat, turn: Turn, p: Payload) -> Result<Value, (&'static str, String)> {
    let Some(User(user)) = s.extensions.get::<User>() else {
        return Err(("UNAUTHORIZED", "socket is not authenticated".into()));
    };
    if p.group_id.is_empty() {
        return Err(("INVALID_MESSAGE", "groupId is required".into()));
    }
    if p.client_msg_id.is_empty() || p.client_msg_id.len() > chat.settings.client_msg_id_max {
        return Err(("INVALID_MESSAGE", format!("clientMsgId must be 1–{} bytes", chat.settings.client_msg_id_max)));
    }
    let sid = s.id.to_string();
    // From here to the produce, in the socket's order of sends.
    turn.wait().await;
    super::check_member(s, chat, &user, &p.group_id).await?;

    let key = post_key(&p.group_id, &user, &p.client_msg_id);
    let outcome = chat.waiters().wait_for(&key);
    let cmd = PostMessage {
        group_id: p.group_id.clone(),
        sender_id: user.to_string(),
        client_msg_id: p.client_msg_id,
        content: p.content,
        r#type: p.kind.unwrap_or_else(|| "text".into()),
        attachments: p.attachments.into_iter().map(Into::into).collect(),
        origin_node: chat.settings.node_id.clone(),
        requested_at_ms: 0,
        origin_socket: sid.clone(),
    };
    let cmd = MessageCommand { command: Some(message_command::Command::Post(cmd)) };
    if let Err(e) = chat.producer.send(&chat.commands_topic, &p.group_id, &cmd.encode_to_vec(), Some(&sid)).await {
        chat.waiters().abandon(&key);
        tracing::error!(error = %e, "producing a post command");
        return Err(("SERVER_ERROR", "message could not be queued, try again".into()));
    }
    turn.finish();
    let started = std::time::Instant::now();
    let settled = tokio::time::timeout(chat.ack_timeout(), outcome).await;
    metrics::histogram!("chat_send_ack_seconds").record(started.elapsed().as_secs_f64());
    match settled {
        Ok(Ok(Outcome::Posted(m))) => {
            metrics::counter!("chat_messages_sent_total", "outcome" => "acked").increment(1);
            Ok(json!({ "ok": true, "message": hubbub_api::Message::from(m) }))
        }
        Ok(Ok(Outcome::Rejected { code, message })) => {
            let code = super::client_code(&code).unwrap_or("SERVER_ERROR");
            metrics::counter!("chat_messages_sent_total", "outcome" => code).increment(1);
            Err((code, message))
        }
        Ok(Err(_)) | Err(_) => {
            metrics::counter!("chat_messages_sent_total", "outcome" => "unconfirmed").increment(1);
            chat.waiters().abandon(&key);
            // The command is in Kafka and may still be stored: a retry with the same
            // clientMsgId is safe and will be acknowledged with the one stored message.
            Err(("SERVER_ERROR", "message not confirmed in time; retry with the same clientMsgId".into()))
        }
    }
}
