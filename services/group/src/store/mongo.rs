//! The MongoDB group store: `groups`, `members` (unique on group and user), `directs` (one
//! document per pair of users, unique by `_id`, so a pair can never get two direct chats) and
//! `invites` (expired ones removed by a TTL index). Multi-document writes run in transactions.

use std::time::Duration;

use futures_util::TryStreamExt;
use hubbub_proto::group::{GroupKind, Role, Visibility};
use mongodb::bson::{DateTime, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use hubbub_outbox::Outbox;

use super::{GroupChange, GroupRecord, GroupStore, MemberRecord, Outgoing};
use crate::{Error, Result};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupDoc {
    #[serde(rename = "_id")]
    id: String,
    kind: i32,
    name: String,
    name_lower: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    visibility: i32,
    owner_id: String,
    member_count: u32,
    created_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_activity_at: Option<DateTime>,
}

impl From<&GroupRecord> for GroupDoc {
    fn from(g: &GroupRecord) -> Self {
        GroupDoc {
            id: g.id.clone(),
            kind: g.kind as i32,
            name: g.name.clone(),
            name_lower: g.name.to_lowercase(),
            description: g.description.clone(),
            visibility: g.visibility as i32,
            owner_id: g.owner_id.clone(),
            member_count: g.member_count,
            created_at: DateTime::from_millis(g.created_at_ms),
            last_activity_at: None,
        }
    }
}

impl From<GroupDoc> for GroupRecord {
    fn from(d: GroupDoc) -> Self {
        GroupRecord {
            kind: GroupKind::try_from(d.kind).unwrap_or(GroupKind::Group),
            visibility: Visibility::try_from(d.visibility).unwrap_or(Visibility::Private),
            id: d.id,
            name: d.name,
            description: d.description,
            owner_id: d.owner_id,
            member_count: d.member_count,
            created_at_ms: d.created_at.timestamp_millis(),
            last_activity_ms: d.last_activity_at.unwrap_or(d.created_at).timestamp_millis(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberDoc {
    group_id: String,
    user_id: String,
    role: i32,
    joined_at: DateTime,
}

impl MemberDoc {
    fn new(group_id: &str, m: &MemberRecord) -> Self {
        MemberDoc {
            group_id: group_id.to_owned(),
            user_id: m.user_id.clone(),
            role: m.role as i32,
            joined_at: DateTime::from_millis(m.joined_at_ms),
        }
    }
}

impl From<MemberDoc> for MemberRecord {
    fn from(d: MemberDoc) -> Self {
        MemberRecord {
            user_id: d.user_id,
            role: Role::try_from(d.role).unwrap_or(Role::Member),
            joined_at_ms: d.joined_at.timestamp_millis(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectDoc {
    #[serde(rename = "_id")]
    pair: String,
    group_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DepartureDoc {
    /// `groupId:userId`: one per pair, however often they leave.
    #[serde(rename = "_id")]
    key: String,
    group_id: String,
    user_id: String,
    at: DateTime,
}

impl DepartureDoc {
    fn new(group_id: &str, user_id: &str) -> Self {
        Self {
            key: format!("{group_id}:{user_id}"),
            group_id: group_id.to_owned(),
            user_id: user_id.to_owned(),
            at: DateTime::now(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InviteDoc {
    #[serde(rename = "_id")]
    code: String,
    group_id: String,
    expires_at: DateTime,
}

/// Groups in MongoDB.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    groups: Collection<GroupDoc>,
    members: Collection<MemberDoc>,
    directs: Collection<DirectDoc>,
    invites: Collection<InviteDoc>,
    /// Who was once a member of which group (kept when the group is deleted), so catch-up can
    /// tell a group the caller lost from one they never had.
    departures: Collection<DepartureDoc>,
    /// Events stored with the changes they report.
    outbox: Outbox,
}

const COLLECTIONS: [&str; 5] = ["groups", "members", "directs", "invites", "departures"];

impl MongoStore {
    /// Opens the store and makes sure its collections and indexes exist.
    pub async fn new(client: Client, db: &Database, outbox: Outbox) -> Result<Self> {
        // Collections must exist before a transaction writes to them.
        for name in COLLECTIONS {
            if let Err(e) = db.create_collection(name).await
                && !e.to_string().contains("already exists")
            {
                return Err(e.into());
            }
        }
        let (groups, members) = (db.collection::<GroupDoc>("groups"), db.collection::<MemberDoc>("members"));
        let (directs, invites) = (db.collection::<DirectDoc>("directs"), db.collection::<InviteDoc>("invites"));
        members
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! { "groupId": 1, "userId": 1 })
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
                IndexModel::builder().keys(doc! { "userId": 1, "joinedAt": -1, "groupId": -1 }).build(),
                IndexModel::builder().keys(doc! { "groupId": 1, "joinedAt": 1, "userId": 1 }).build(),
                IndexModel::builder().keys(doc! { "groupId": 1, "role": 1, "joinedAt": 1 }).build(),
            ])
            .await?;
        groups
            .create_index(IndexModel::builder().keys(doc! { "visibility": 1, "nameLower": 1, "_id": 1 }).build())
            .await?;
        invites
            .create_indexes([
                IndexModel::builder().keys(doc! { "groupId": 1 }).build(),
                IndexModel::builder()
                    .keys(doc! { "expiresAt": 1 })
                    .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
                    .build(),
            ])
            .await?;
        let departures = db.collection::<DepartureDoc>("departures");
        departures.create_index(IndexModel::builder().keys(doc! { "userId": 1, "groupId": 1 }).build()).await?;
        Ok(Self { client, groups, members, directs, invites, departures, outbox })
    }

    async fn session(&self) -> Result<ClientSession> {
        let mut session = self.client.start_session().await?;
        session.start_transaction().await?;
        Ok(session)
    }

    /// Stores `events` in the transaction, commits, then waits (a bounded time) until they are
    /// published: a caller told "done" knows a removal's fence is out before its next request.
    async fn commit_with(&self, mut session: ClientSession, events: &[Outgoing]) -> Result<()> {
        let staged = self.outbox.stage(&mut session, events).await?;
        session.commit_transaction().await?;
        self.outbox.delivered(&staged).await;
        Ok(())
    }
}

impl GroupStore for MongoStore {
    async fn create(&self, g: &GroupRecord, members: &[MemberRecord], events: &[Outgoing]) -> Result<()> {
        let docs: Vec<MemberDoc> = members.iter().map(|m| MemberDoc::new(&g.id, m)).collect();
        let mut s = self.session().await?;
        self.groups.insert_one(GroupDoc::from(g)).session(&mut s).await?;
        self.members.insert_many(docs).session(&mut s).await?;
        self.commit_with(s, events).await?;
        Ok(())
    }

    async fn create_direct(
        &self,
        key: &str,
        g: &GroupRecord,
        members: &[MemberRecord],
        events: &[Outgoing],
    ) -> Result<(String, bool)> {
        let existing = || async {
            let d = self.directs.find_one(doc! { "_id": key }).await?;
            d.map(|d| (d.group_id, false)).ok_or_else(|| Error::Conflict("direct chat is being created".into()))
        };
        if let Ok(found) = existing().await {
            return Ok(found);
        }
        let docs: Vec<MemberDoc> = members.iter().map(|m| MemberDoc::new(&g.id, m)).collect();
        let attempt = async {
            let mut s = self.session().await?;
            // The pair's document is the lock: a concurrent creation fails here.
            self.directs.insert_one(DirectDoc { pair: key.to_owned(), group_id: g.id.clone() }).session(&mut s).await?;
            self.groups.insert_one(GroupDoc::from(g)).session(&mut s).await?;
            self.members.insert_many(docs).session(&mut s).await?;
            self.commit_with(s, events).await
        };
        match attempt.await {
            Ok(()) => Ok((g.id.clone(), true)),
            Err(Error::Store(e)) if is_conflict(&e) => {
                // The other creation won; wait for it to be visible.
                for _ in 0..50 {
                    if let Ok(found) = existing().await {
                        return Ok(found);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                existing().await
            }
            Err(e) => Err(e),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<GroupRecord>> {
        Ok(self.groups.find_one(doc! { "_id": id }).await?.map(Into::into))
    }

    async fn update(&self, id: &str, change: GroupChange) -> Result<Option<GroupRecord>> {
        let update = hubbub_mongo::Update::default()
            .set("nameLower", change.name.as_ref().map(|n| n.to_lowercase()))
            .set("name", change.name)
            .set_or_clear("description", change.description)
            .set("visibility", change.visibility.map(|v| v as i32));
        let Some(update) = update.into_document() else {
            return self.get(id).await;
        };
        let doc =
            self.groups.find_one_and_update(doc! { "_id": id }, update).return_document(ReturnDocument::After).await?;
        Ok(doc.map(Into::into))
    }

    async fn set_owner(&self, id: &str, owner_id: &str) -> Result<()> {
        self.groups.update_one(doc! { "_id": id }, doc! { "$set": { "ownerId": owner_id } }).await?;
        Ok(())
    }

    async fn delete(&self, id: &str, events: &[Outgoing]) -> Result<()> {
        let mut s = self.session().await?;
        let members: Vec<MemberDoc> =
            self.members.find(doc! { "groupId": id }).session(&mut s).await?.stream(&mut s).try_collect().await?;
        if !members.is_empty() {
            let gone = members.iter().map(|m| DepartureDoc::new(id, &m.user_id));
            self.departures.delete_many(doc! { "groupId": id }).session(&mut s).await?;
            self.departures.insert_many(gone).session(&mut s).await?;
        }
        self.groups.delete_one(doc! { "_id": id }).session(&mut s).await?;
        self.members.delete_many(doc! { "groupId": id }).session(&mut s).await?;
        self.invites.delete_many(doc! { "groupId": id }).session(&mut s).await?;
        self.directs.delete_many(doc! { "groupId": id }).session(&mut s).await?;
        self.commit_with(s, events).await?;
        Ok(())
    }

    async fn member(&self, group_id: &str, user_id: &str) -> Result<Option<MemberRecord>> {
        Ok(self.members.find_one(doc! { "groupId": group_id, "userId": user_id }).await?.map(Into::into))
    }

    async fn add_member(&self, group_id: &str, m: &MemberRecord, events: &[Outgoing]) -> Result<bool> {
        retry_transient(|| async {
            let mut s = self.session().await?;
            // Counted only where the group still exists, so a racing deletion leaves no orphan.
            let counted = self
                .groups
                .update_one(doc! { "_id": group_id }, doc! { "$inc": { "memberCount": 1 } })
                .session(&mut s)
                .await?;
            if counted.matched_count == 0 {
                s.abort_transaction().await?;
                return Err(Error::NotFound);
            }
            match self.members.insert_one(MemberDoc::new(group_id, m)).session(&mut s).await {
                Ok(_) => {}
                Err(e) if hubbub_mongo::is_duplicate_key(&e) => {
                    s.abort_transaction().await?;
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
            self.commit_with(s, events).await?;
            Ok(true)
        })
        .await
    }

    async fn remove_member(&self, group_id: &str, user_id: &str, events: &[Outgoing]) -> Result<bool> {
        retry_transient(|| async {
            let mut s = self.session().await?;
            let gone = self.members.delete_one(doc! { "groupId": group_id, "userId": user_id }).session(&mut s).await?;
            if gone.deleted_count == 0 {
                s.abort_transaction().await?;
                return Ok(false);
            }
            self.groups
                .update_one(doc! { "_id": group_id }, doc! { "$inc": { "memberCount": -1 } })
                .session(&mut s)
                .await?;
            let departure = DepartureDoc::new(group_id, user_id);
            self.departures
                .replace_one(doc! { "_id": &departure.key }, &departure)
                .upsert(true)
                .session(&mut s)
                .await?;
            self.commit_with(s, events).await?;
            Ok(true)
        })
        .await
    }

    async fn set_role(
        &self,
        group_id: &str,
        user_id: &str,
        role: Role,
        events: &[Outgoing],
    ) -> Result<Option<MemberRecord>> {
        retry_transient(|| async {
            let mut s = self.session().await?;
            let doc = self
                .members
                .find_one_and_update(
                    doc! { "groupId": group_id, "userId": user_id },
                    doc! { "$set": { "role": role as i32 } },
                )
                .return_document(ReturnDocument::After)
                .session(&mut s)
                .await?;
            if doc.is_none() {
                s.abort_transaction().await?;
                return Ok(None);
            }
            self.commit_with(s, events).await?;
            Ok(doc.map(Into::into))
        })
        .await
    }

    async fn with_role(&self, group_id: &str, role: Role, limit: u32) -> Result<Vec<MemberRecord>> {
        let docs: Vec<MemberDoc> = self
            .members
            .find(doc! { "groupId": group_id, "role": role as i32 })
            .sort(doc! { "joinedAt": 1 })
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn members(&self, group_id: &str, after: Option<(i64, String)>, limit: u32) -> Result<Vec<MemberRecord>> {
        let mut filter = doc! { "groupId": group_id };
        if let Some((at, user)) = after {
            let at = DateTime::from_millis(at);
            filter.insert(
                "$or",
                vec![doc! { "joinedAt": { "$gt": at } }, doc! { "joinedAt": at, "userId": { "$gt": user } }],
            );
        }
        let docs: Vec<MemberDoc> = self
            .members
            .find(filter)
            .sort(doc! { "joinedAt": 1, "userId": 1 })
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn standing(&self, user_id: &str, group_ids: &[String]) -> Result<(Vec<String>, Vec<String>)> {
        let filter = doc! { "userId": user_id, "groupId": { "$in": group_ids } };
        let (members, departed) = futures_util::future::try_join(
            async { self.members.find(filter.clone()).await?.try_collect::<Vec<MemberDoc>>().await },
            async { self.departures.find(filter.clone()).await?.try_collect::<Vec<DepartureDoc>>().await },
        )
        .await?;
        Ok((members.into_iter().map(|m| m.group_id).collect(), departed.into_iter().map(|d| d.group_id).collect()))
    }

    async fn groups_of(&self, user_id: &str) -> Result<Vec<String>> {
        let docs: Vec<MemberDoc> = self.members.find(doc! { "userId": user_id }).await?.try_collect().await?;
        Ok(docs.into_iter().map(|d| d.group_id).collect())
    }

    async fn memberships(&self, user_id: &str, cap: u32) -> Result<Vec<(GroupRecord, MemberRecord)>> {
        let docs: Vec<MemberDoc> =
            self.members.find(doc! { "userId": user_id }).limit(i64::from(cap)).await?.try_collect().await?;
        let ids: Vec<&str> = docs.iter().map(|d| d.group_id.as_str()).collect();
        let groups: Vec<GroupDoc> = self.groups.find(doc! { "_id": { "$in": ids } }).await?.try_collect().await?;
        let mut by_id: std::collections::HashMap<String, GroupRecord> =
            groups.into_iter().map(|g| (g.id.clone(), g.into())).collect();
        Ok(docs.into_iter().filter_map(|m| Some((by_id.remove(&m.group_id)?, m.into()))).collect())
    }

    async fn touch_activity(&self, latest: &[(String, i64)]) -> Result<()> {
        let statements = latest.iter().map(|(group_id, at_ms)| {
            (doc! { "_id": group_id }, doc! { "$max": { "lastActivityAt": DateTime::from_millis(*at_ms) } })
        });
        // One command for every group of the batch.
        if let Some(e) = hubbub_mongo::update_each(&self.groups, statements, false).await?.into_iter().next() {
            return Err(e.into_error("recording activity").into());
        }
        Ok(())
    }

    async fn public(
        &self,
        only_public: bool,
        prefix: &str,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<GroupRecord>> {
        let mut range = doc! { "$gte": prefix, "$lt": format!("{prefix}\u{10FFFF}") };
        let mut filter = if only_public {
            doc! { "visibility": Visibility::Public as i32 }
        } else {
            doc! {}
        };
        if let Some((name, id)) = after {
            filter.insert(
                "$or",
                vec![doc! { "nameLower": { "$gt": &name } }, doc! { "nameLower": &name, "_id": { "$gt": id } }],
            );
            range.insert("$gte", name);
        }
        filter.insert("nameLower", range);
        let docs: Vec<GroupDoc> = self
            .groups
            .find(filter)
            .sort(doc! { "nameLower": 1, "_id": 1 })
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn create_invite(&self, code: &str, group_id: &str, expires_at_ms: i64) -> Result<()> {
        let doc = InviteDoc {
            code: code.to_owned(),
            group_id: group_id.to_owned(),
            expires_at: DateTime::from_millis(expires_at_ms),
        };
        self.invites.insert_one(doc).await?;
        Ok(())
    }

    async fn invite(&self, code: &str) -> Result<Option<(String, i64)>> {
        Ok(self.invites.find_one(doc! { "_id": code }).await?.map(|d| (d.group_id, d.expires_at.timestamp_millis())))
    }
}

/// Runs a transaction again while it fails on a conflict with another one (two joins to one
/// busy room both update its member count); gives up after a few tries.
async fn retry_transient<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0u64;
    loop {
        match attempt().await {
            Err(Error::Store(e)) if tries < 5 && is_transient(&e) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(5 * tries)).await;
            }
            other => return other,
        }
    }
}

/// A conflict the driver says is worth retrying.
fn is_transient(e: &mongodb::error::Error) -> bool {
    e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
        || e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
        || matches!(e.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == 112)
}

/// A duplicate key or a write conflict: another transaction claimed the same document.
fn is_conflict(e: &mongodb::error::Error) -> bool {
    hubbub_mongo::is_duplicate_key(e) || is_transient(e)
}
