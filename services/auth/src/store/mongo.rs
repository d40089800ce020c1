//! The MongoDB stores: `accounts` (unique on lowercased username and email) and
//! `refresh_tokens` (by hash; indexed by session and user; expired ones removed by a TTL index).

use std::time::Duration;

use futures_util::TryStreamExt;
use hubbub_outbox::Outbox;
use mongodb::bson::{DateTime, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{ClientSession, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{Account, AccountStore, Outgoing, Presented, RefreshRecord, SessionStore};
use crate::{Error, Result};

const USERNAME_INDEX: &str = "username_lower_unique";
const EMAIL_INDEX: &str = "email_lower_unique";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountDoc {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    username_lower: String,
    email: String,
    email_lower: String,
    password_hash: String,
    #[serde(default)]
    admin: bool,
    created_at: DateTime,
}

impl From<AccountDoc> for Account {
    fn from(d: AccountDoc) -> Self {
        Account {
            id: d.id,
            username: d.username,
            email: d.email,
            password_hash: d.password_hash,
            admin: d.admin,
            created_at_ms: d.created_at.timestamp_millis(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshDoc {
    #[serde(rename = "_id")]
    hash: String,
    family_id: String,
    user_id: String,
    created_at: DateTime,
    expires_at: DateTime,
    #[serde(default)]
    used_at: Option<DateTime>,
    #[serde(default)]
    revoked: bool,
}

impl From<RefreshDoc> for RefreshRecord {
    fn from(d: RefreshDoc) -> Self {
        RefreshRecord {
            hash: d.hash,
            family: d.family_id,
            user_id: d.user_id,
            expires_at_ms: d.expires_at.timestamp_millis(),
        }
    }
}

/// Accounts and sessions in MongoDB.
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    accounts: Collection<AccountDoc>,
    refresh: Collection<RefreshDoc>,
    /// Events stored with the changes they report.
    outbox: Outbox,
}

impl MongoStore {
    /// Opens the store and makes sure its indexes exist.
    pub async fn new(db: &Database, outbox: Outbox) -> Result<Self> {
        let accounts = db.collection::<AccountDoc>("accounts");
        let unique = |key: &str, name: &str| {
            IndexModel::builder()
                .keys(doc! { key: 1 })
                .options(IndexOptions::builder().unique(true).name(name.to_owned()).build())
                .build()
        };
        accounts.create_indexes([unique("usernameLower", USERNAME_INDEX), unique("emailLower", EMAIL_INDEX)]).await?;
        let refresh = db.collection::<RefreshDoc>("refresh_tokens");
        refresh
            .create_indexes([
                IndexModel::builder().keys(doc! { "familyId": 1 }).build(),
                IndexModel::builder().keys(doc! { "userId": 1 }).build(),
                IndexModel::builder()
                    .keys(doc! { "expiresAt": 1 })
                    .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
                    .build(),
            ])
            .await?;
        Ok(Self { db: db.clone(), accounts, refresh, outbox })
    }

    async fn session(&self) -> Result<ClientSession> {
        let mut session = self.db.client().start_session().await?;
        session.start_transaction().await?;
        Ok(session)
    }

    /// Stores `events` in the transaction, commits, then wakes the outbox's relay. It does not
    /// wait for the events: what follows a revocation (refusing its access tokens in Redis)
    /// must not wait for Kafka.
    async fn commit_with(&self, mut session: ClientSession, events: &[Outgoing]) -> Result<()> {
        self.outbox.stage(&mut session, events).await?;
        session.commit_transaction().await?;
        self.outbox.poke();
        Ok(())
    }

    /// The live sessions of a user but `keep`: the filter, and the distinct sessions it finds
    /// (within `session`'s transaction if given).
    async fn live(
        &self,
        user_id: &str,
        keep: Option<&str>,
        session: Option<&mut ClientSession>,
    ) -> Result<(mongodb::bson::Document, Vec<String>)> {
        let mut filter = doc! { "userId": user_id, "revoked": false };
        if let Some(keep) = keep {
            filter.insert("familyId", doc! { "$ne": keep });
        }
        let live: Vec<RefreshDoc> = match session {
            Some(s) => self.refresh.find(filter.clone()).session(&mut *s).await?.stream(s).try_collect().await?,
            None => self.refresh.find(filter.clone()).await?.try_collect().await?,
        };
        let mut families: Vec<String> = live.into_iter().map(|d| d.family_id).collect();
        families.sort();
        families.dedup();
        Ok((filter, families))
    }
}

impl AccountStore for MongoStore {
    async fn insert(&self, a: &Account) -> Result<()> {
        let doc = AccountDoc {
            id: a.id.clone(),
            username: a.username.clone(),
            username_lower: a.username.to_lowercase(),
            email: a.email.clone(),
            email_lower: a.email.to_lowercase(),
            password_hash: a.password_hash.clone(),
            admin: a.admin,
            created_at: DateTime::from_millis(a.created_at_ms),
        };
        match self.accounts.insert_one(doc).await {
            Ok(_) => Ok(()),
            Err(e) if hubbub_mongo::is_duplicate_key(&e) => {
                // The server names the violated index in its message.
                if e.to_string().contains(EMAIL_INDEX) { Err(Error::EmailTaken) } else { Err(Error::UsernameTaken) }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, id: &str, events: &[Outgoing]) -> Result<()> {
        let mut s = self.session().await?;
        self.accounts.delete_one(doc! { "_id": id }).session(&mut s).await?;
        self.commit_with(s, events).await
    }

    async fn announce(&self, events: &[Outgoing]) -> Result<()> {
        self.commit_with(self.session().await?, events).await
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<Account>> {
        let lower = login.to_lowercase();
        let filter = if login.contains('@') {
            doc! { "emailLower": lower }
        } else {
            doc! { "usernameLower": lower }
        };
        Ok(self.accounts.find_one(filter).await?.map(Into::into))
    }

    async fn find_by_id(&self, id: &str) -> Result<Option<Account>> {
        Ok(self.accounts.find_one(doc! { "_id": id }).await?.map(Into::into))
    }

    async fn set_password(&self, id: &str, password_hash: &str) -> Result<()> {
        let done =
            self.accounts.update_one(doc! { "_id": id }, doc! { "$set": { "passwordHash": password_hash } }).await?;
        if done.matched_count == 0 { Err(Error::NoAccount) } else { Ok(()) }
    }

    async fn make_admin(&self, id: &str) -> Result<()> {
        self.accounts.update_one(doc! { "_id": id }, doc! { "$set": { "admin": true } }).await?;
        Ok(())
    }
}

impl SessionStore for MongoStore {
    async fn insert_refresh(&self, r: &RefreshRecord) -> Result<()> {
        let doc = RefreshDoc {
            hash: r.hash.clone(),
            family_id: r.family.clone(),
            user_id: r.user_id.clone(),
            created_at: DateTime::now(),
            expires_at: DateTime::from_millis(r.expires_at_ms),
            used_at: None,
            revoked: false,
        };
        self.refresh.insert_one(doc).await?;
        Ok(())
    }

    async fn present(&self, hash: &str, now_ms: i64) -> Result<Presented> {
        // Only one of two racing refreshes can flip usedAt from null: the other sees it spent.
        let fresh = self
            .refresh
            .find_one_and_update(
                doc! { "_id": hash, "usedAt": null, "revoked": false },
                doc! { "$set": { "usedAt": DateTime::from_millis(now_ms) } },
            )
            .return_document(ReturnDocument::Before)
            .await?;
        if let Some(doc) = fresh {
            return Ok(Presented::Fresh(doc.into()));
        }
        Ok(match self.refresh.find_one(doc! { "_id": hash }).await? {
            Some(doc) if doc.revoked => Presented::Revoked,
            Some(doc) => Presented::Spent(doc.into()),
            None => Presented::Unknown,
        })
    }

    async fn family_of(&self, hash: &str) -> Result<Option<RefreshRecord>> {
        Ok(self.refresh.find_one(doc! { "_id": hash }).await?.map(Into::into))
    }

    async fn revoke_family(&self, family: &str, events: &[Outgoing]) -> Result<()> {
        let mut s = self.session().await?;
        self.refresh
            .update_many(doc! { "familyId": family }, doc! { "$set": { "revoked": true } })
            .session(&mut s)
            .await?;
        self.commit_with(s, events).await
    }

    async fn live_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<Vec<String>> {
        Ok(self.live(user_id, keep, None).await?.1)
    }

    async fn revoke_user<F>(&self, user_id: &str, keep: Option<&str>, events: F) -> Result<Vec<String>>
    where
        F: FnOnce(&[String]) -> Vec<Outgoing> + Send,
    {
        let mut s = self.session().await?;
        let (filter, families) = self.live(user_id, keep, Some(&mut s)).await?;
        self.refresh.update_many(filter, doc! { "$set": { "revoked": true } }).session(&mut s).await?;
        self.commit_with(s, &events(&families)).await?;
        Ok(families)
    }
}
