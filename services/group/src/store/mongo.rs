//! The MongoDB group store: collections `groups` and `members` (unique on group and user,
//! indexed by user), written together in a transaction.

use futures_util::TryStreamExt;
use hubbub_proto::group::{GroupKind, Role, Visibility};
use mongodb::bson::{DateTime, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{GroupRecord, GroupStore};
use crate::Result;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupDoc {
    #[serde(rename = "_id")]
    id: String,
    kind: i32,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    visibility: i32,
    owner_id: String,
    member_count: u32,
    created_at: DateTime,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberDoc {
    group_id: String,
    user_id: String,
    role: i32,
    joined_at: DateTime,
}

/// Groups in MongoDB.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    groups: Collection<GroupDoc>,
    members: Collection<MemberDoc>,
}

impl MongoStore {
    /// Opens the store and makes sure its indexes exist.
    pub async fn new(client: Client, db: &Database) -> Result<Self> {
        let groups = db.collection::<GroupDoc>("groups");
        let members = db.collection::<MemberDoc>("members");
        // Collections must exist before a transaction writes to them.
        for name in ["groups", "members"] {
            if let Err(e) = db.create_collection(name).await
                && !e.to_string().contains("already exists")
            {
                return Err(e.into());
            }
        }
        members
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! { "groupId": 1, "userId": 1 })
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
                IndexModel::builder().keys(doc! { "userId": 1, "joinedAt": -1 }).build(),
            ])
            .await?;
        Ok(Self { client, groups, members })
    }
}

impl GroupStore for MongoStore {
    async fn create(&self, g: &GroupRecord, members: &[(String, Role)]) -> Result<()> {
        let now = DateTime::from_millis(g.created_at_ms);
        let group = GroupDoc {
            id: g.id.clone(),
            kind: g.kind as i32,
            name: g.name.clone(),
            description: g.description.clone(),
            visibility: g.visibility as i32,
            owner_id: g.owner_id.clone(),
            member_count: g.member_count,
            created_at: now,
        };
        let docs: Vec<MemberDoc> = members
            .iter()
            .map(|(user_id, role)| MemberDoc {
                group_id: g.id.clone(),
                user_id: user_id.clone(),
                role: *role as i32,
                joined_at: now,
            })
            .collect();
        let mut session = self.client.start_session().await?;
        session.start_transaction().await?;
        self.groups.insert_one(group).session(&mut session).await?;
        self.members.insert_many(docs).session(&mut session).await?;
        session.commit_transaction().await?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<GroupRecord>> {
        Ok(self.groups.find_one(doc! { "_id": id }).await?.map(|d| GroupRecord {
            kind: GroupKind::try_from(d.kind).unwrap_or(GroupKind::Group),
            visibility: Visibility::try_from(d.visibility).unwrap_or(Visibility::Private),
            id: d.id,
            name: d.name,
            description: d.description,
            owner_id: d.owner_id,
            member_count: d.member_count,
            created_at_ms: d.created_at.timestamp_millis(),
        }))
    }

    async fn role(&self, group_id: &str, user_id: &str) -> Result<Option<Role>> {
        let m = self.members.find_one(doc! { "groupId": group_id, "userId": user_id }).await?;
        Ok(m.map(|m| Role::try_from(m.role).unwrap_or(Role::Member)))
    }

    async fn groups_of(&self, user_id: &str) -> Result<Vec<String>> {
        // The projection leaves only groupId, so read raw documents.
        let raw = self.members.clone_with_type::<mongodb::bson::Document>();
        let docs: Vec<mongodb::bson::Document> = raw
            .find(doc! { "userId": user_id })
            .projection(doc! { "groupId": 1, "_id": 0 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.into_iter().filter_map(|d| d.get_str("groupId").ok().map(str::to_owned)).collect())
    }
}
