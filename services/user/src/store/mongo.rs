//! The MongoDB profile store: collection `users`, indexed by lowercased username (unique) and
//! lowercased display name for prefix search.

use futures_util::TryStreamExt;
use hubbub_proto::user::User;
use mongodb::bson::{DateTime, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{Change, UserStore};
use crate::{Error, Result};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    username_lower: String,
    display_name: String,
    display_name_lower: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    avatar_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bio: Option<String>,
    created_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen_at: Option<DateTime>,
}

impl From<Doc> for User {
    fn from(d: Doc) -> Self {
        User {
            avatar_url: d.avatar_key.as_ref().map(|_| format!("/api/v1/users/{}/avatar", d.id)),
            id: d.id,
            username: d.username,
            display_name: d.display_name,
            bio: d.bio,
            created_at_ms: d.created_at.timestamp_millis(),
            last_seen_at_ms: d.last_seen_at.map(|t| t.timestamp_millis()),
            avatar_key: d.avatar_key,
        }
    }
}

/// Profiles in MongoDB.
#[derive(Clone)]
pub struct MongoStore {
    users: Collection<Doc>,
}

impl MongoStore {
    /// Opens the store and makes sure its indexes exist.
    pub async fn new(db: &Database) -> Result<Self> {
        let users = db.collection::<Doc>("users");
        users
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! { "usernameLower": 1 })
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
                IndexModel::builder().keys(doc! { "displayNameLower": 1, "usernameLower": 1 }).build(),
            ])
            .await?;
        Ok(Self { users })
    }
}

/// The first string after every string that starts with `prefix` (for a range query).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

impl UserStore for MongoStore {
    async fn create(&self, u: User) -> Result<User> {
        let doc = Doc {
            username_lower: u.username.to_lowercase(),
            display_name_lower: u.display_name.to_lowercase(),
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            avatar_key: None,
            bio: u.bio,
            created_at: DateTime::from_millis(u.created_at_ms),
            last_seen_at: None,
        };
        let id = doc.id.clone();
        match self.users.insert_one(&doc).await {
            Ok(_) => Ok(doc.into()),
            Err(e) if hubbub_mongo::is_duplicate_key(&e) => match self.get(&id).await? {
                Some(existing) => Ok(existing),
                None => Err(Error::Invalid("username is taken".into())),
            },
            Err(e) => Err(e.into()),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<User>> {
        Ok(self.users.find_one(doc! { "_id": id }).await?.map(Into::into))
    }

    async fn update(&self, id: &str, change: Change) -> Result<Option<User>> {
        let update = hubbub_mongo::Update::default()
            .set("displayNameLower", change.display_name.as_ref().map(|n| n.to_lowercase()))
            .set("displayName", change.display_name)
            .set_or_clear("bio", change.bio)
            .set_or_clear("avatarKey", change.avatar_key);
        let Some(update) = update.into_document() else {
            return self.get(id).await;
        };
        let doc =
            self.users.find_one_and_update(doc! { "_id": id }, update).return_document(ReturnDocument::After).await?;
        Ok(doc.map(Into::into))
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.users.delete_one(doc! { "_id": id }).await?;
        Ok(())
    }

    async fn search(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<User>> {
        let range = doc! { "$gte": prefix, "$lt": prefix_end(prefix) };
        let mut filter = doc! { "$or": [ { "usernameLower": range.clone() }, { "displayNameLower": range } ] };
        if let Some(after) = after {
            filter.insert("usernameLower", doc! { "$gt": after });
        }
        let docs: Vec<Doc> = self
            .users
            .find(filter)
            .sort(doc! { "usernameLower": 1 })
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        Ok(docs.into_iter().map(Into::into).collect())
    }

    async fn touch_last_seen(&self, id: &str, at_ms: i64) -> Result<()> {
        let at = DateTime::from_millis(at_ms);
        self.users.update_one(doc! { "_id": id }, doc! { "$max": { "lastSeenAt": at } }).await?;
        Ok(())
    }
}
