//! Object storage on any S3-compatible service (AWS, MinIO, s3s-fs): the bucket, presigned PUT
//! and GET URLs, and object checks. Clients upload and download straight to and from storage;
//! hubbub only signs.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use hubbub_config::Secret;
use serde::{Deserialize, Serialize};

/// Where storage is and how URLs are signed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct StorageSettings {
    /// The S3 endpoint (path-style addressing); signed URLs point here, so clients must reach it.
    pub endpoint: String,
    /// Region to sign for.
    pub region: String,
    /// The bucket; created at startup if missing.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: Secret,
    /// How long an upload URL stays valid, in seconds.
    pub put_ttl_secs: u64,
    /// How long a download URL stays valid, in seconds.
    pub get_ttl_secs: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "us-east-1".into(),
            bucket: "hubbub".into(),
            access_key: "hubbub".into(),
            secret_key: Secret::new("hubbub-dev-secret"),
            put_ttl_secs: 600,
            get_ttl_secs: 300,
        }
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service refused or could not be reached.
    #[error("storage: {0}")]
    Service(String),
    /// A URL could not be signed.
    #[error("signing: {0}")]
    Signing(String),
}

/// `Result` with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A signed request a client performs itself.
#[derive(Clone, Debug)]
pub struct Presigned {
    /// The URL.
    pub url: String,
    /// The HTTP method.
    pub method: String,
    /// Headers the client must send exactly as given (they are part of the signature).
    pub headers: Vec<(String, String)>,
    /// When the URL stops working.
    pub expires_at: SystemTime,
}

/// What storage holds under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Its content type.
    pub content_type: Option<String>,
    /// Its size in bytes.
    pub size: u64,
}

/// A bucket on an S3-compatible service.
#[derive(Clone)]
pub struct Storage {
    client: Client,
    settings: StorageSettings,
}

impl Storage {
    /// A client for the configured bucket (nothing is dialed yet).
    pub fn new(settings: StorageSettings) -> Self {
        let credentials =
            Credentials::new(&settings.access_key, settings.secret_key.expose(), None, None, "hubbub-settings");
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .endpoint_url(&settings.endpoint)
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        Self { client: Client::from_conf(config), settings }
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> Result<()> {
        let bucket = &self.settings.bucket;
        if self.client.head_bucket().bucket(bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            // Another process may have made it in between.
            Err(e) if self.client.head_bucket().bucket(bucket).send().await.is_ok() => {
                tracing::debug!(error = %e, "bucket appeared concurrently");
                Ok(())
            }
            Err(e) => {
                Err(Error::Service(format!("creating bucket {bucket}: {}", aws_sdk_s3::error::DisplayErrorContext(e))))
            }
        }
    }

    /// A URL to upload exactly `size` bytes of `content_type` to `key`; the service refuses any
    /// other type or length, because both are signed.
    pub async fn presign_put(&self, key: &str, content_type: &str, size: u64) -> Result<Presigned> {
        let ttl = Duration::from_secs(self.settings.put_ttl_secs);
        let size = i64::try_from(size).map_err(|_| Error::Signing("size too large".into()))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size)
            .presigned(config(ttl)?)
            .await
            .map_err(|e| Error::Signing(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        let mut headers: Vec<(String, String)> = request.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        // Browsers and fetch set Content-Length themselves; naming it tells clients it is fixed.
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
            headers.push(("content-length".into(), size.to_string()));
        }
        Ok(Presigned {
            url: request.uri().to_owned(),
            method: "PUT".into(),
            headers,
            expires_at: SystemTime::now() + ttl,
        })
    }

    /// A short-lived URL to download `key`.
    pub async fn presign_get(&self, key: &str) -> Result<Presigned> {
        let ttl = Duration::from_secs(self.settings.get_ttl_secs);
        let request = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .presigned(config(ttl)?)
            .await
            .map_err(|e| Error::Signing(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(Presigned {
            url: request.uri().to_owned(),
            method: "GET".into(),
            headers: Vec::new(),
            expires_at: SystemTime::now() + ttl,
        })
    }

    /// What is stored under `key`, if anything.
    pub async fn head(&self, key: &str) -> Result<Option<Object>> {
        match self.client.head_object().bucket(&self.settings.bucket).key(key).send().await {
            Ok(o) => Ok(Some(Object {
                content_type: o.content_type().map(str::to_owned),
                size: o.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(Error::Service(aws_sdk_s3::error::DisplayErrorContext(e).to_string())),
        }
    }
}

fn config(ttl: Duration) -> Result<PresigningConfig> {
    PresigningConfig::expires_in(ttl).map_err(|e| Error::Signing(e.to_string()))
}
