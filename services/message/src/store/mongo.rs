//! The MongoDB message store: collection `messages`, unique on (groupId, seq) and on
//! (groupId, senderId, clientMsgId); every read walks the (groupId, seq) index.

use std::future::IntoFuture as _;

use futures_util::TryStreamExt;
use hubbub_proto::message::{Attachment, Message, ReadState};
use mongodb::bson::{DateTime, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{MessageStore, Page, Upload};
use crate::Result;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentDoc {
    key: String,
    name: String,
    content_type: String,
    size: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    width: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    height: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    thumbnail_key: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
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
    /// True for messages stored before group heads told what was published (and for edited
    /// ones); new messages are published once their group's head reaches them.
    #[serde(default = "published_by_default")]
    published: bool,
    /// The group's last seq when the message was last edited or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    edit_seq: Option<i64>,
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
            seq: i64_of(m.seq),
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
                    size: i64_of(a.size),
                    width: i64::from(a.width),
                    height: i64::from(a.height),
                    thumbnail_key: a.thumbnail_key.clone(),
                })
                .collect(),
            client_msg_id: m.client_msg_id.clone().unwrap_or_default(),
            created_at: DateTime::from_millis(m.created_at_ms),
            edited_at: m.edited_at_ms.map(DateTime::from_millis),
            deleted: m.deleted,
            published: false,
            edit_seq: None,
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
                    width: u32::try_from(a.width).unwrap_or(0),
                    height: u32::try_from(a.height).unwrap_or(0),
                    thumbnail_key: a.thumbnail_key,
                })
                .collect(),
            client_msg_id: Some(d.client_msg_id),
            created_at_ms: d.created_at.timestamp_millis(),
            edited_at_ms: d.edited_at.map(|t| t.timestamp_millis()),
            deleted: d.deleted,
        }
    }
}

/// A group's newest message (collection `heads`, one document per group), so a list of groups
/// gets every newest message with one query.
#[derive(Serialize, Deserialize)]
struct Head {
    #[serde(rename = "_id")]
    group_id: String,
    seq: i64,
    message: Doc,
}

/// A user's watermarks in a group (collection `reads`, one document per pair). `writes` counts
/// the writes that moved it, so the cost of a chatty client can be read off the store.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadDoc {
    group_id: String,
    user_id: String,
    #[serde(default)]
    delivered_seq: i64,
    #[serde(default)]
    seen_seq: i64,
}

impl From<ReadDoc> for ReadState {
    fn from(d: ReadDoc) -> Self {
        ReadState {
            group_id: d.group_id,
            user_id: d.user_id,
            delivered_seq: u64::try_from(d.delivered_seq).unwrap_or(0),
            seen_seq: u64::try_from(d.seen_seq).unwrap_or(0),
        }
    }
}

/// An upload (collection `uploads`, keyed by object key).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadDoc {
    #[serde(rename = "_id")]
    key: String,
    group_id: String,
    uploader_id: String,
    name: String,
    content_type: String,
    size: i64,
    created_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thumbnail_key: Option<String>,
}

impl From<UploadDoc> for Upload {
    fn from(d: UploadDoc) -> Self {
        Upload {
            key: d.key,
            group_id: d.group_id,
            uploader_id: d.uploader_id,
            name: d.name,
            content_type: d.content_type,
            size: u64::try_from(d.size).unwrap_or(0),
            created_at_ms: d.created_at.timestamp_millis(),
            message_id: d.message_id,
            thumbnail_key: d.thumbnail_key,
        }
    }
}

/// An upload's preview: wanted (`pending`), made (`done`), or not to be made (`none`).
const THUMB_PENDING: &str = "pending";

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Messages in MongoDB.
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    messages: Collection<Doc>,
    /// Every partition's inserts, combined: one command carries what all of them have waiting.
    inserts: hubbub_mongo::GroupInsert<Doc>,
    heads: Collection<Head>,
    reads: Collection<ReadDoc>,
    uploads: Collection<UploadDoc>,
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
                IndexModel::builder().keys(doc! { "groupId": 1, "editSeq": 1 }).build(),
                IndexModel::builder().keys(doc! { "attachments.key": 1 }).build(),
            ])
            .await?;
        let uploads = db.collection::<UploadDoc>("uploads");
        uploads
            .create_indexes([
                IndexModel::builder().keys(doc! { "messageId": 1, "createdAt": 1 }).build(),
                IndexModel::builder().keys(doc! { "thumb": 1, "claimUntil": 1 }).build(),
                IndexModel::builder().keys(doc! { "discard": 1 }).build(),
            ])
            .await?;
        let reads = db.collection::<ReadDoc>("reads");
        reads
            .create_indexes([
                unique(doc! { "groupId": 1, "userId": 1 }),
                IndexModel::builder().keys(doc! { "userId": 1, "groupId": 1 }).build(),
            ])
            .await?;
        let inserts = hubbub_mongo::GroupInsert::start(messages.clone());
        Ok(Self { db: db.clone(), messages, inserts, heads: db.collection("heads"), reads, uploads })
    }
}

impl MessageStore for MongoStore {
    async fn ping(&self) -> Result<()> {
        Ok(hubbub_mongo::ping(&self.db).await?)
    }

    async fn last_seq(&self, group_id: &str) -> Result<u64> {
        let last = self.messages.find_one(doc! { "groupId": group_id }).sort(doc! { "seq": -1 }).await?;
        Ok(last.map_or(0, |d| u64::try_from(d.seq).unwrap_or(0)))
    }

    async fn insert_many(&self, messages: &[Message]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        self.inserts.insert(messages.iter().map(Doc::from).collect()).await?;
        Ok(())
    }

    async fn stored_ids(&self, ids: &[String]) -> Result<Vec<String>> {
        let found: Vec<Doc> = self.messages.find(doc! { "_id": { "$in": ids } }).await?.try_collect().await?;
        Ok(found.into_iter().map(|d| d.id).collect())
    }

    async fn find_posted(
        &self,
        group_id: &str,
        sender_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<(Message, bool)>> {
        let found = self
            .messages
            .find_one(doc! { "groupId": group_id, "senderId": sender_id, "clientMsgId": client_msg_id })
            .await?;
        let Some(d) = found else { return Ok(None) };
        // Marked (stored before heads told it) or at or below its group's head.
        let published =
            d.published || self.heads.find_one(doc! { "_id": group_id, "seq": { "$gte": d.seq } }).await?.is_some();
        Ok(Some((d.into(), published)))
    }

    async fn set_heads(&self, newest: &[Message]) -> Result<()> {
        let mut statements = Vec::with_capacity(newest.len());
        for m in newest {
            let doc = mongodb::bson::to_document(&Doc { published: true, ..Doc::from(m) })
                .map_err(mongodb::error::Error::from)?;
            let seq = i64_of(m.seq);
            // Matches an older head or the same one (as since edited or deleted); a newer one
            // makes the upsert collide, which is fine.
            statements.push((
                doc! { "_id": &m.group_id, "seq": { "$lte": seq } },
                doc! { "$set": { "seq": seq, "message": doc } },
            ));
        }
        // One command for every group's head.
        let failed = hubbub_mongo::update_each(&self.heads, statements, true).await?;
        match failed.into_iter().find(|e| e.code != 11000) {
            None => Ok(()),
            Some(e) => Err(e.into_error("recording a group's head").into()),
        }
    }

    async fn heads(&self, group_ids: &[String]) -> Result<Vec<Message>> {
        if group_ids.is_empty() {
            return Ok(vec![]);
        }
        let found: Vec<Head> = self.heads.find(doc! { "_id": { "$in": group_ids } }).await?.try_collect().await?;
        // A group with messages from before heads were kept has none yet: read its newest.
        let missing: Vec<&String> = group_ids.iter().filter(|g| !found.iter().any(|h| &h.group_id == *g)).collect();
        let mut out: Vec<Message> = found.into_iter().map(|h| h.message.into()).collect();
        let newest =
            futures_util::future::join_all(missing.iter().map(|g| {
                self.messages.find_one(doc! { "groupId": g.as_str() }).sort(doc! { "seq": -1 }).into_future()
            }))
            .await;
        for doc in newest {
            out.extend(doc?.map(Message::from));
        }
        Ok(out)
    }

    async fn get(&self, id: &str) -> Result<Option<Message>> {
        Ok(self.messages.find_one(doc! { "_id": id }).await?.map(Into::into))
    }

    async fn change(&self, m: &Message, edit_seq: u64) -> Result<()> {
        let doc = Doc { published: true, edit_seq: Some(i64_of(edit_seq)), ..Doc::from(m) };
        let fields = doc! {
            "content": &doc.content,
            "attachments": mongodb::bson::to_bson(&doc.attachments).map_err(mongodb::error::Error::from)?,
            "deleted": doc.deleted,
            "editedAt": doc.edited_at,
            "editSeq": doc.edit_seq,
        };
        self.messages.update_one(doc! { "_id": &m.id }, doc! { "$set": fields }).await?;
        // The group's newest message shows in group lists: keep it as it now stands.
        let head = mongodb::bson::to_document(&doc).map_err(mongodb::error::Error::from)?;
        self.heads
            .update_one(doc! { "_id": &m.group_id, "message._id": &m.id }, doc! { "$set": { "message": head } })
            .await?;
        Ok(())
    }

    async fn changed_since(&self, group_id: &str, cursor: u64, limit: u32) -> Result<Vec<Message>> {
        let c = i64_of(cursor);
        let filter = doc! { "groupId": group_id, "editSeq": { "$gte": c }, "seq": { "$lte": c } };
        let docs: Vec<Doc> =
            self.messages.find(filter).sort(doc! { "seq": 1 }).limit(i64::from(limit)).await?.try_collect().await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn reads_of(&self, pairs: &[(String, String)]) -> Result<Vec<ReadState>> {
        if pairs.is_empty() {
            return Ok(vec![]);
        }
        let any: Vec<_> = pairs.iter().map(|(g, u)| doc! { "groupId": g, "userId": u }).collect();
        let docs: Vec<ReadDoc> = self.reads.find(doc! { "$or": any }).await?.try_collect().await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn user_reads(&self, user_id: &str, group_ids: &[String]) -> Result<Vec<ReadState>> {
        if group_ids.is_empty() {
            return Ok(vec![]);
        }
        let filter = doc! { "userId": user_id, "groupId": { "$in": group_ids } };
        let docs: Vec<ReadDoc> = self.reads.find(filter).await?.try_collect().await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn move_reads(&self, reads: &[ReadState]) -> Result<()> {
        let statements = reads.iter().map(|r| {
            let marks = doc! { "deliveredSeq": i64_of(r.delivered_seq.max(r.seen_seq)), "seenSeq": i64_of(r.seen_seq) };
            (doc! { "groupId": &r.group_id, "userId": &r.user_id }, doc! { "$max": marks, "$inc": { "writes": 1 } })
        });
        // One command for them all. A failure (two upserts of a new pair racing, after a
        // rebalance) is retried whole by the caller: `$max` makes a repeated write harmless.
        let failed = hubbub_mongo::update_each(&self.reads, statements, true).await?;
        match failed.into_iter().next() {
            None => Ok(()),
            Some(e) => Err(e.into_error("moving read marks").into()),
        }
    }

    async fn list(&self, group_id: &str, page: Page, limit: u32) -> Result<(Vec<Message>, bool)> {
        let fetch = i64::from(limit) + 1;
        let (filter, ascending) = match page {
            Page::Newest => (doc! { "groupId": group_id }, false),
            Page::Before(seq) => (doc! { "groupId": group_id, "seq": { "$lt": i64_of(seq) } }, false),
            Page::After(seq) => (doc! { "groupId": group_id, "seq": { "$gt": i64_of(seq) } }, true),
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

    async fn create_upload(&self, u: &Upload) -> Result<()> {
        let doc = UploadDoc {
            key: u.key.clone(),
            group_id: u.group_id.clone(),
            uploader_id: u.uploader_id.clone(),
            name: u.name.clone(),
            content_type: u.content_type.clone(),
            size: i64_of(u.size),
            created_at: DateTime::from_millis(u.created_at_ms),
            message_id: None,
            thumbnail_key: None,
        };
        self.uploads.insert_one(doc).await?;
        Ok(())
    }

    async fn uploads(&self, keys: &[String]) -> Result<Vec<Upload>> {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        let filter = doc! { "_id": { "$in": keys }, "discard": { "$ne": true } };
        let docs: Vec<UploadDoc> = self.uploads.find(filter).await?.try_collect().await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn keys_in_messages(&self, keys: &[String]) -> Result<Vec<(String, String)>> {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        let docs: Vec<Doc> =
            self.messages.find(doc! { "attachments.key": { "$in": keys } }).await?.try_collect().await?;
        let mut out = Vec::new();
        for d in docs {
            for a in &d.attachments {
                if keys.contains(&a.key) {
                    out.push((a.key.clone(), d.id.clone()));
                }
            }
        }
        Ok(out)
    }

    async fn attach_uploads(&self, message_id: &str, keys: &[String], images: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let now = DateTime::now();
        let set = doc! { "messageId": message_id, "attachedAt": now };
        self.uploads.update_many(doc! { "_id": { "$in": keys } }, doc! { "$set": set }).await?;
        if !images.is_empty() {
            // An image wants a preview, unless one was settled already (a repeated attach).
            self.uploads
                .update_many(
                    doc! { "_id": { "$in": images }, "thumb": { "$exists": false } },
                    doc! { "$set": { "thumb": THUMB_PENDING } },
                )
                .await?;
        }
        Ok(())
    }

    async fn discard_uploads(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.uploads.update_many(doc! { "_id": { "$in": keys } }, doc! { "$set": { "discard": true } }).await?;
        Ok(())
    }

    async fn stale_uploads(&self, before_ms: i64, limit: u32) -> Result<Vec<Upload>> {
        let filter = doc! {
            "messageId": null,
            "createdAt": { "$lt": DateTime::from_millis(before_ms) },
            "discard": { "$ne": true },
        };
        let docs: Vec<UploadDoc> = self.uploads.find(filter).limit(i64::from(limit)).await?.try_collect().await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn discarded_uploads(&self, limit: u32) -> Result<Vec<Upload>> {
        let docs: Vec<UploadDoc> =
            self.uploads.find(doc! { "discard": true }).limit(i64::from(limit)).await?.try_collect().await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn forget_upload(&self, key: &str) -> Result<()> {
        self.uploads.delete_one(doc! { "_id": key }).await?;
        Ok(())
    }

    async fn claim_thumbnail(&self, lease_ms: i64) -> Result<Option<Upload>> {
        let now = DateTime::now();
        let until = DateTime::from_millis(now.timestamp_millis() + lease_ms);
        let filter = doc! {
            "thumb": THUMB_PENDING,
            "discard": { "$ne": true },
            "$or": [{ "claimUntil": null }, { "claimUntil": { "$lt": now } }],
        };
        let claimed = self.uploads.find_one_and_update(filter, doc! { "$set": { "claimUntil": until } }).await?;
        Ok(claimed.map(Into::into))
    }

    async fn thumbnail_made(&self, key: &str, thumbnail_key: Option<&str>) -> Result<bool> {
        let set = match thumbnail_key {
            Some(t) => doc! { "thumb": "done", "thumbnailKey": t },
            None => doc! { "thumb": "none" },
        };
        let done = self
            .uploads
            .update_one(
                doc! { "_id": key, "discard": { "$ne": true } },
                doc! { "$set": set, "$unset": { "claimUntil": "" } },
            )
            .await?;
        Ok(done.matched_count == 1)
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
    async fn an_ordered_insert_stops_at_a_repeated_client_id_and_the_first_copy_is_found() {
        let s = store().await;
        let first = message(1, "c1");
        s.insert_many(std::slice::from_ref(&first)).await.unwrap();
        // Stored but not yet announced (as after a crash between the insert and the publish).
        let (m, published) = s.find_posted("g", "u", "c1").await.unwrap().unwrap();
        assert_eq!((m.id.as_str(), published), (first.id.as_str(), false));
        // The batch stops at the repeat: what came before it is stored, what follows is not.
        let (before, repeat, after) = (message(2, "c2"), message(3, "c1"), message(4, "c4"));
        assert!(s.insert_many(&[before.clone(), repeat.clone(), after.clone()]).await.is_err());
        let ids = [before.id.clone(), repeat.id.clone(), after.id.clone()];
        assert_eq!(s.stored_ids(&ids).await.unwrap(), vec![before.id.clone()]);
        // Once the group's head is at or past it, it was published.
        s.set_heads(std::slice::from_ref(&before)).await.unwrap();
        assert!(s.find_posted("g", "u", "c1").await.unwrap().unwrap().1);
        // One stored after it, not yet announced, was not.
        s.insert_many(&[message(3, "c3")]).await.unwrap();
        assert!(!s.find_posted("g", "u", "c3").await.unwrap().unwrap().1);
        // Another client id on a taken seq stops the insert too.
        assert!(s.insert_many(&[message(1, "c9")]).await.is_err());
        assert!(s.find_posted("g", "u", "c9").await.unwrap().is_none());
        assert_eq!(s.last_seq("g").await.unwrap(), 3);
    }

    #[tokio::test]
    async fn inserts_combined_in_one_command_end_as_if_each_were_alone() {
        let s = store().await;
        let in_group = |group: &str, seq: u64, client: &str| Message { group_id: group.into(), ..message(seq, client) };
        s.insert_many(&[in_group("b", 1, "b1")]).await.unwrap();
        // Three writers' batches in one command; the second repeats a client id in its middle.
        let first = [in_group("a", 1, "a1"), in_group("a", 2, "a2")];
        let second = [in_group("b", 2, "b2"), in_group("b", 3, "b1"), in_group("b", 4, "b4")];
        let third = [in_group("c", 1, "c1")];
        let docs = |m: &[Message]| m.iter().map(Doc::from).collect::<Vec<_>>();
        let (d1, d2, d3) = (docs(&first), docs(&second), docs(&third));
        let outcomes = hubbub_mongo::insert_round(&s.messages, &[d1.as_slice(), d2.as_slice(), d3.as_slice()]).await;
        assert!(matches!(outcomes[0], Some(Ok(()))), "before the failure: stored");
        assert!(matches!(&outcomes[1], Some(Err(e)) if hubbub_mongo::is_duplicate_key(e)), "the failing batch is told");
        assert!(outcomes[2].is_none(), "after it: not reached, to be sent again");
        let ids: Vec<String> = first.iter().chain(&second).chain(&third).map(|m| m.id.clone()).collect();
        let mut stored = s.stored_ids(&ids).await.unwrap();
        stored.sort();
        let mut expected = vec![first[0].id.clone(), first[1].id.clone(), second[0].id.clone()];
        expected.sort();
        assert_eq!(stored, expected, "the failing batch's prefix only, as if it were alone");

        // Through the shared task, many writers at once: each ends as if it were alone.
        let writers: Vec<_> = (0..20)
            .map(|w| {
                let s = s.clone();
                let batch: Vec<Message> =
                    (1..=3).map(|seq| in_group(&format!("w{w}"), seq, &format!("w{w}-{seq}"))).collect();
                tokio::spawn(async move { s.insert_many(&batch).await })
            })
            .collect();
        let repeat = s.insert_many(&[in_group("a", 3, "a3"), in_group("a", 4, "a1")]).await;
        assert!(repeat.is_err_and(|e| matches!(&e, crate::Error::Store(m) if hubbub_mongo::is_duplicate_key(m))));
        for w in writers {
            w.await.unwrap().unwrap();
        }
        for w in 0..20 {
            assert_eq!(s.last_seq(&format!("w{w}")).await.unwrap(), 3);
        }
        assert_eq!(s.last_seq("a").await.unwrap(), 3);
        assert_eq!(s.last_seq("c").await.unwrap(), 0, "the batch not reached was never sent again by hand");
    }

    #[tokio::test]
    async fn heads_and_read_marks_of_many_groups_are_one_write_that_never_moves_back() {
        let s = store().await;
        let in_group =
            |group: &str, seq: u64| Message { group_id: group.into(), ..message(seq, &format!("{group}{seq}")) };
        s.set_heads(&[in_group("a", 5), in_group("b", 2)]).await.unwrap();
        // An older head of `a` (a late batch) collides on the group and is passed over; `b` moves.
        s.set_heads(&[in_group("a", 3), in_group("b", 4)]).await.unwrap();
        let mut heads: Vec<(String, u64)> =
            s.heads(&["a".into(), "b".into()]).await.unwrap().into_iter().map(|m| (m.group_id, m.seq)).collect();
        heads.sort();
        assert_eq!(heads, vec![("a".into(), 5), ("b".into(), 4)]);

        let read = |group: &str, user: &str, delivered_seq, seen_seq| ReadState {
            group_id: group.into(),
            user_id: user.into(),
            delivered_seq,
            seen_seq,
        };
        s.move_reads(&[read("a", "u", 5, 2), read("b", "u", 4, 4), read("a", "v", 1, 0)]).await.unwrap();
        // Lower marks (a repeated, older write) leave the higher ones.
        s.move_reads(&[read("a", "u", 3, 1), read("b", "u", 4, 4)]).await.unwrap();
        let mut marks: Vec<(String, String, u64, u64)> = s
            .reads_of(&[("a".into(), "u".into()), ("b".into(), "u".into()), ("a".into(), "v".into())])
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.group_id, r.user_id, r.delivered_seq, r.seen_seq))
            .collect();
        marks.sort();
        assert_eq!(
            marks,
            vec![("a".into(), "u".into(), 5, 2), ("a".into(), "v".into(), 1, 0), ("b".into(), "u".into(), 4, 4)]
        );

        // More than one command's worth of statements: every one is written.
        let many: Vec<ReadState> = (0..2500).map(|i| read("c", &format!("u{i}"), 7, 7)).collect();
        s.move_reads(&many).await.unwrap();
        let users: Vec<(String, String)> = (0..2500).map(|i| ("c".into(), format!("u{i}"))).collect();
        let written = s.reads_of(&users).await.unwrap();
        assert_eq!(written.len(), 2500);
        assert!(written.iter().all(|r| (r.delivered_seq, r.seen_seq) == (7, 7)));
    }
}
