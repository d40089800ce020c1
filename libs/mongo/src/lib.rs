//! Connects to MongoDB and classifies the driver errors that services act on.

use serde::{Deserialize, Serialize};

mod group_insert;
pub use group_insert::{DOCUMENTS_PER_COMMAND, GroupInsert, insert_round};

/// Where MongoDB is and how databases are named.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct MongoSettings {
    /// A MongoDB connection string.
    pub uri: String,
    /// Each service uses the database `<prefix><service>`; tests use a unique prefix.
    pub database_prefix: String,
    /// Every write waits for a majority of the replica set and the journal, so a failover
    /// cannot roll back a write a user was told about. Off only for throwaway data.
    pub durable_writes: bool,
    /// How long an operation waits for a server it can use before failing (the driver's own
    /// default is 30 s, longer than any RPC deadline: callers would see a timeout instead of
    /// a quick "unavailable" while the database is down).
    pub server_selection_timeout_ms: u64,
}

impl Default for MongoSettings {
    fn default() -> Self {
        Self {
            uri: "mongodb://127.0.0.1:27017/?directConnection=true".into(),
            database_prefix: "hubbub_".into(),
            durable_writes: true,
            server_selection_timeout_ms: 2000,
        }
    }
}

impl MongoSettings {
    /// Connects (lazily: the driver dials on first use) and returns the service's database.
    pub async fn database(&self, service: &str) -> mongodb::error::Result<mongodb::Database> {
        let mut options = mongodb::options::ClientOptions::parse(&self.uri).await?;
        options.app_name = Some(format!("hubbub-{service}"));
        options.server_selection_timeout = Some(std::time::Duration::from_millis(self.server_selection_timeout_ms));
        if self.durable_writes {
            options.write_concern = Some(
                mongodb::options::WriteConcern::builder()
                    .w(mongodb::options::Acknowledgment::Majority)
                    .journal(true)
                    .build(),
            );
        }
        let client = mongodb::Client::with_options(options)?;
        Ok(client.database(&format!("{}{}", self.database_prefix, service)))
    }
}

/// True when the write failed on a unique index (server code 11000).
pub fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::InsertMany(e) => e.write_errors.as_ref().is_some_and(|errs| errs.iter().any(|e| e.code == 11000)),
        ErrorKind::Command(e) => e.code == 11000,
        _ => false,
    }
}

/// A statement's failure in [`update_each`]: its index among the statements, the server's code
/// (11000 for a duplicate key) and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementError {
    /// Which statement, counted from 0.
    pub index: usize,
    /// The server's error code.
    pub code: i32,
    /// The server's message.
    pub message: String,
}

impl StatementError {
    /// As a driver error saying what was being done, for callers that give up on any failure.
    pub fn into_error(self, doing: &str) -> mongodb::error::Error {
        std::io::Error::other(format!("{doing}: {}", self.message)).into()
    }
}

/// Most statements sent in one `update` command by [`update_each`]: far below the server's
/// 100,000 and, at a few hundred bytes a statement, its 16 MiB.
pub const STATEMENTS_PER_COMMAND: usize = 1000;

/// Runs `(filter, update)` statements against one collection as unordered `update` commands of
/// up to [`STATEMENTS_PER_COMMAND`]: one round trip and one write-concern wait (the
/// collection's) per thousand statements, where the driver sends one command per `update_one`.
/// Every statement is tried; the ones that failed come back (a failed command, or a
/// write-concern error, is an `Err`).
pub async fn update_each<T: Send + Sync>(
    coll: &mongodb::Collection<T>,
    statements: impl IntoIterator<Item = (mongodb::bson::Document, mongodb::bson::Document)>,
    upsert: bool,
) -> mongodb::error::Result<Vec<StatementError>> {
    use mongodb::bson::{Bson, Document, doc};
    let updates: Vec<Bson> =
        statements.into_iter().map(|(q, u)| Bson::Document(doc! { "q": q, "u": u, "upsert": upsert })).collect();
    let db = coll.client().database(&coll.namespace().db);
    let write_concern = coll.write_concern().map(mongodb::bson::to_document).transpose()?;
    let mut failed = Vec::new();
    for (chunk, updates) in updates.chunks(STATEMENTS_PER_COMMAND).enumerate() {
        let mut command = doc! { "update": coll.name(), "updates": updates, "ordered": false };
        if let Some(wc) = &write_concern {
            command.insert("writeConcern", wc.clone());
        }
        let reply = db.run_command(command).await?;
        if let Ok(wce) = reply.get_document("writeConcernError") {
            let why = wce.get_str("errmsg").unwrap_or("write concern not satisfied");
            return Err(std::io::Error::other(format!("write concern error: {why}")).into());
        }
        let errors = reply.get_array("writeErrors").map(Vec::as_slice).unwrap_or_default();
        failed.extend(errors.iter().filter_map(Bson::as_document).map(|e: &Document| {
            StatementError {
                index: e
                    .get_i32("index")
                    .ok()
                    .and_then(|i| usize::try_from(i).ok())
                    .map_or(usize::MAX, |i| chunk * STATEMENTS_PER_COMMAND + i),
                code: e.get_i32("code").unwrap_or_default(),
                message: e.get_str("errmsg").unwrap_or_default().to_owned(),
            }
        }));
    }
    Ok(failed)
}

/// Pings the server: readiness checks use it.
pub async fn ping(db: &mongodb::Database) -> mongodb::error::Result<()> {
    db.run_command(mongodb::bson::doc! { "ping": 1 }).await.map(|_| ())
}

/// Builds a partial update: `$set` for fields given a value, `$unset` for fields cleared,
/// nothing for fields left alone.
#[derive(Debug, Default)]
pub struct Update {
    set: mongodb::bson::Document,
    unset: mongodb::bson::Document,
}

impl Update {
    /// Sets `key` when `value` is given.
    pub fn set(mut self, key: &str, value: Option<impl Into<mongodb::bson::Bson>>) -> Self {
        if let Some(v) = value {
            self.set.insert(key, v.into());
        }
        self
    }

    /// Sets `key` for `Some(Some(v))`, removes it for `Some(None)`, leaves it for `None`.
    pub fn set_or_clear(mut self, key: &str, value: Option<Option<impl Into<mongodb::bson::Bson>>>) -> Self {
        match value {
            Some(Some(v)) => drop(self.set.insert(key, v.into())),
            Some(None) => drop(self.unset.insert(key, "")),
            None => {}
        }
        self
    }

    /// The update document, or `None` when nothing changes.
    pub fn into_document(self) -> Option<mongodb::bson::Document> {
        let mut update = mongodb::bson::Document::new();
        if !self.set.is_empty() {
            update.insert("$set", self.set);
        }
        if !self.unset.is_empty() {
            update.insert("$unset", self.unset);
        }
        (!update.is_empty()).then_some(update)
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::*;

    // A failover can roll back a write only a primary had: every write a user is told about must
    // wait for a majority and the journal. Collections and transactions (whose commit takes the
    // client's write concern when none is given) inherit it from the database handle.
    #[tokio::test]
    async fn writes_wait_for_a_majority_and_the_journal_unless_durability_is_turned_off() {
        let durable = MongoSettings::default().database("t").await.unwrap();
        let wc = durable.collection::<mongodb::bson::Document>("c").write_concern().cloned().unwrap_or_default();
        assert_eq!((wc.w, wc.journal), (Some(mongodb::options::Acknowledgment::Majority), Some(true)));
        let fast = MongoSettings { durable_writes: false, ..MongoSettings::default() }.database("t").await.unwrap();
        assert_eq!(fast.write_concern(), None);
    }

    #[test]
    fn an_update_sets_given_fields_clears_cleared_ones_and_skips_the_rest() {
        let u = Update::default()
            .set("name", Some("n"))
            .set("skipped", None::<&str>)
            .set_or_clear("bio", Some(None::<&str>))
            .set_or_clear("avatar", Some(Some("k")))
            .set_or_clear("left", None::<Option<&str>>);
        assert_eq!(u.into_document(), Some(doc! { "$set": { "name": "n", "avatar": "k" }, "$unset": { "bio": "" } }));
        assert_eq!(Update::default().set("x", None::<i32>).into_document(), None);
    }
}
