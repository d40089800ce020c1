//! The MongoDB profile store: collection `users`.

use hubbub_proto::user::User;
use mongodb::bson::{DateTime, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::UserStore;
use crate::{Error, Result};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    username_lower: String,
    display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bio: Option<String>,
    created_at: DateTime,
}

impl From<Doc> for User {
    fn from(d: Doc) -> Self {
        User {
            id: d.id,
            username: d.username,
            display_name: d.display_name,
            avatar_url: d.avatar_url,
            bio: d.bio,
            created_at_ms: d.created_at.timestamp_millis(),
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
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "usernameLower": 1 })
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
            )
            .await?;
        Ok(Self { users })
    }
}

impl UserStore for MongoStore {
    async fn create(&self, u: User) -> Result<User> {
        let doc = Doc {
            username_lower: u.username.to_lowercase(),
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            avatar_url: u.avatar_url,
            bio: u.bio,
            created_at: DateTime::from_millis(u.created_at_ms),
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
        Ok(self
            .users
            .find_one(doc! { "_id": id })
            .await?
            .map(Into::into))
    }
}
