//! The MongoDB account store: collection `accounts`, unique on lowercased username and email.

use mongodb::bson::{DateTime, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{Account, AccountStore};
use crate::{Error, Result};

const USERNAME_INDEX: &str = "username_lower_unique";
const EMAIL_INDEX: &str = "email_lower_unique";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    username_lower: String,
    email: String,
    email_lower: String,
    password_hash: String,
    created_at: DateTime,
}

/// Accounts in MongoDB.
#[derive(Clone)]
pub struct MongoStore {
    accounts: Collection<Doc>,
}

impl MongoStore {
    /// Opens the store and makes sure its indexes exist.
    pub async fn new(db: &Database) -> Result<Self> {
        let accounts = db.collection::<Doc>("accounts");
        let unique = |key: &str, name: &str| {
            IndexModel::builder()
                .keys(doc! { key: 1 })
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_owned())
                        .build(),
                )
                .build()
        };
        accounts
            .create_indexes([
                unique("usernameLower", USERNAME_INDEX),
                unique("emailLower", EMAIL_INDEX),
            ])
            .await?;
        Ok(Self { accounts })
    }
}

impl AccountStore for MongoStore {
    async fn insert(&self, a: &Account) -> Result<()> {
        let doc = Doc {
            id: a.id.clone(),
            username: a.username.clone(),
            username_lower: a.username.to_lowercase(),
            email: a.email.clone(),
            email_lower: a.email.to_lowercase(),
            password_hash: a.password_hash.clone(),
            created_at: DateTime::from_millis(a.created_at_ms),
        };
        match self.accounts.insert_one(doc).await {
            Ok(_) => Ok(()),
            Err(e) if hubbub_mongo::is_duplicate_key(&e) => {
                // The server names the violated index in its message.
                if e.to_string().contains(EMAIL_INDEX) {
                    Err(Error::EmailTaken)
                } else {
                    Err(Error::UsernameTaken)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.accounts.delete_one(doc! { "_id": id }).await?;
        Ok(())
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<Account>> {
        let lower = login.to_lowercase();
        let filter = if login.contains('@') {
            doc! { "emailLower": lower }
        } else {
            doc! { "usernameLower": lower }
        };
        Ok(self.accounts.find_one(filter).await?.map(|d| Account {
            id: d.id,
            username: d.username,
            email: d.email,
            password_hash: d.password_hash,
            created_at_ms: d.created_at.timestamp_millis(),
        }))
    }
}
