//! Connects to MongoDB and classifies the driver errors that services act on.

use serde::{Deserialize, Serialize};

/// Where MongoDB is and how databases are named.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct MongoSettings {
    /// A MongoDB connection string.
    pub uri: String,
    /// Each service uses the database `<prefix><service>`; tests use a unique prefix.
    pub database_prefix: String,
}

impl Default for MongoSettings {
    fn default() -> Self {
        Self { uri: "mongodb://127.0.0.1:27017/?directConnection=true".into(), database_prefix: "hubbub_".into() }
    }
}

impl MongoSettings {
    /// Connects (lazily: the driver dials on first use) and returns the service's database.
    pub async fn database(&self, service: &str) -> mongodb::error::Result<mongodb::Database> {
        let mut options = mongodb::options::ClientOptions::parse(&self.uri).await?;
        options.app_name = Some(format!("hubbub-{service}"));
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

/// Pings the server: readiness checks use it.
pub async fn ping(db: &mongodb::Database) -> mongodb::error::Result<()> {
    db.run_command(mongodb::bson::doc! { "ping": 1 }).await.map(|_| ())
}
