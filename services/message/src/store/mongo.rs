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
    /// False from insert until the message's event is published.
    #[serde(default = "published_by_default")]
    published: bool,
}

/// Messages stored before the flag existed were published.
fn published_by_default() -> bool {
    true
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
            published: false,
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
                Ok(existing.map_or(Inserted::SeqTaken, |d| {
                    let published = d.published;
                    Inserted::Duplicate(Box::new(d.into()), published)
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn mark_published(&self, id: &str) -> Result<()> {
        self.messages.update_one(doc! { "_id": id }, doc! { "$set": { "published": true } }).await?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> MongoStore {
        let settings = hubbub_mongo::MongoSettings {
            database_prefix: format!("t{}_", uuid::Uuid::new_v4().simple()),
            ..Default::default()
        };
        MongoStore::new(&settings.database("message").await.unwrap()).await.unwrap()
    }

    fn message(seq: u64, client_msg_id: &str) -> Message {
        Message {
            id: uuid::Uuid::new_v4().simple().to_string(),
            group_id: "g".into(),
            seq,
            sender_id: "u".into(),
            content: "hi".into(),
            r#type: "text".into(),
            attachments: vec![],
            client_msg_id: Some(client_msg_id.into()),
            created_at_ms: 1,
            edited_at_ms: None,
            deleted: false,
        }
    }

    #[tokio::test]
    async fn a_retried_post_finds_the_first_copy_and_whether_it_was_announced() {
        let s = store().await;
        let first = message(1, "c1");
        assert!(matches!(s.insert(&first).await.unwrap(), Inserted::New));
        // Stored but not yet announced (as after a crash between the insert and the publish).
        match s.insert(&message(2, "c1")).await.unwrap() {
            Inserted::Duplicate(m, published) => assert_eq!((m.id.as_str(), published), (first.id.as_str(), false)),
            other => panic!("{other:?}"),
        }
        s.mark_published(&first.id).await.unwrap();
        assert!(matches!(s.insert(&message(2, "c1")).await.unwrap(), Inserted::Duplicate(_, true)));
        // Another client id on a taken seq is a seq conflict, not a duplicate.
        assert!(matches!(s.insert(&message(1, "c2")).await.unwrap(), Inserted::SeqTaken));
        assert_eq!(s.last_seq("g").await.unwrap(), 1);
    }
}
