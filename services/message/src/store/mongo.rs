//! The MongoDB message store: collection `messages`, unique on (groupId, seq) and on
//! (groupId, senderId, clientMsgId); every read walks the (groupId, seq) index.

use futures_util::TryStreamExt;
use hubbub_proto::message::{Attachment, Message};
use mongodb::bson::{DateTime, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{Inserted, MessageStore, Page};
use crate::Result;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentDoc {
    key: String,
    name: String,
    content_type: String,
    size: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    #[serde(rename = "_id")]
    id: String,
    group_id: String,
    seq: i64,
    sender_id: String,
    content: String,
    #[serde(rename = "type")]
    kind: String,
    attachments: Vec<AttachmentDoc>,
    client_msg_id: String,
    created_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    edited_at: Option<DateTime>,
    deleted: bool,
}

impl From<&Message> for Doc {
    fn from(m: &Message) -> Self {
        Doc {
            id: m.id.clone(),
            group_id: m.group_id.clone(),
            seq: i64::try_from(m.seq).unwrap_or(i64::MAX),
            sender_id: m.sender_id.clone(),
            content: m.content.clone(),
            kind: m.r#type.clone(),
            attachments: m
                .attachments
                .iter()
                .map(|a| AttachmentDoc {
                    key: a.key.clone(),
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    size: i64::try_from(a.size).unwrap_or(i64::MAX),
                })
                .collect(),
            client_msg_id: m.client_msg_id.clone().unwrap_or_default(),
            created_at: DateTime::from_millis(m.created_at_ms),
            edited_at: m.edited_at_ms.map(DateTime::from_millis),
            deleted: m.deleted,
        }
    }
}

impl From<Doc> for Message {
    fn from(d: Doc) -> Self {
        Message {
            id: d.id,
            group_id: d.group_id,
            seq: u64::try_from(d.seq).unwrap_or(0),
            sender_id: d.sender_id,
            content: d.content,
            r#type: d.kind,
            attachments: d
                .attachments
                .into_iter()
                .map(|a| Attachment {
                    key: a.key,
                    name: a.name,
                    content_type: a.content_type,
                    size: u64::try_from(a.size).unwrap_or(0),
                })
                .collect(),
            client_msg_id: Some(d.client_msg_id),
            created_at_ms: d.created_at.timestamp_millis(),
            edited_at_ms: d.edited_at.map(|t| t.timestamp_millis()),
            deleted: d.deleted,
        }
    }
}

/// Messages in MongoDB.
#[derive(Clone)]
pub struct MongoStore {
    messages: Collection<Doc>,
}

impl MongoStore {
    /// Opens the store and makes sure its indexes exist.
    pub async fn new(db: &Database) -> Result<Self> {
        let messages = db.collection::<Doc>("messages");
        let unique =
            |keys| IndexModel::builder().keys(keys).options(IndexOptions::builder().unique(true).build()).build();
        messages
            .create_indexes([
                unique(doc! { "groupId": 1, "seq": 1 }),
                unique(doc! { "groupId": 1, "senderId": 1, "clientMsgId": 1 }),
            ])
            .await?;
        Ok(Self { messages })
    }
}

impl MessageStore for MongoStore {
    async fn last_seq(&self, group_id: &str) -> Result<u64> {
        let last = self.messages.find_one(doc! { "groupId": group_id }).sort(doc! { "seq": -1 }).await?;
        Ok(last.map_or(0, |d| u64::try_from(d.seq).unwrap_or(0)))
    }

    async fn insert(&self, m: &Message) -> Result<Inserted> {
        match self.messages.insert_one(Doc::from(m)).await {
            Ok(_) => Ok(Inserted::New),
            Err(e) if hubbub_mongo::is_duplicate_key(&e) => {
                let existing = self
                    .messages
                    .find_one(doc! {
                        "groupId": &m.group_id,
                        "senderId": &m.sender_id,
                        "clientMsgId": m.client_msg_id.as_deref().unwrap_or_default(),
                    })
                    .await?;
                Ok(existing.map_or(Inserted::SeqTaken, |d| Inserted::Duplicate(Box::new(d.into()))))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn last(&self, group_id: &str) -> Result<Option<Message>> {
        let last = self.messages.find_one(doc! { "groupId": group_id }).sort(doc! { "seq": -1 }).await?;
        Ok(last.map(Into::into))
    }

    async fn list(&self, group_id: &str, page: Page, limit: u32) -> Result<(Vec<Message>, bool)> {
        let fetch = i64::from(limit) + 1;
        let (filter, ascending) = match page {
            Page::Newest => (doc! { "groupId": group_id }, false),
            Page::Before(seq) => {
                (doc! { "groupId": group_id, "seq": { "$lt": i64::try_from(seq).unwrap_or(i64::MAX) } }, false)
            }
            Page::After(seq) => {
                (doc! { "groupId": group_id, "seq": { "$gt": i64::try_from(seq).unwrap_or(i64::MAX) } }, true)
            }
        };
        let order = if ascending { 1 } else { -1 };
        let mut docs: Vec<Doc> =
            self.messages.find(filter).sort(doc! { "seq": order }).limit(fetch).await?.try_collect().await?;
        let more = docs.len() > limit as usize;
        docs.truncate(limit as usize);
        if !ascending {
            docs.reverse();
        }
        Ok((docs.into_iter().map(Into::into).collect(), more))
    }
}
