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
    /// The S3 endpoint (path-style addressing) the services call.
    pub endpoint: String,
    /// The endpoint signed URLs point at, as clients reach it (e.g. nginx in front of storage,
    /// answering CORS for browsers); empty means `endpoint`. It must pass the Host header on
    /// unchanged: the signature covers it.
    pub public_endpoint: String,
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
            public_endpoint: String::new(),
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

/// How a download presents itself: under which name, and whether a browser may show it in
/// place (`inline`) or must save it (`attachment`, for anything that could run as a page).
#[derive(Clone, Debug)]
pub struct Disposition {
    /// The original file name.
    pub name: String,
    /// Shown in place rather than saved.
    pub inline: bool,
}

impl Disposition {
    /// The `Content-Disposition` value: an ASCII fallback name and the exact UTF-8 name
    /// (RFC 6266 / RFC 8187).
    pub fn header(&self) -> String {
        let fallback: String = self
            .name
            .chars()
            .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' { c } else { '_' })
            .collect();
        let mut exact = String::with_capacity(self.name.len() * 3);
        for b in self.name.bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                exact.push(char::from(b));
            } else {
                exact.push_str(&format!("%{b:02X}"));
            }
        }
        let kind = if self.inline { "inline" } else { "attachment" };
        format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
    }
}

/// A bucket on an S3-compatible service.
#[derive(Clone)]
pub struct Storage {
    client: Client,
    /// Signs URLs for the public endpoint.
    signer: Client,
    settings: StorageSettings,
}

impl Storage {
    /// A client for the configured bucket (nothing is dialed yet).
    pub fn new(settings: StorageSettings) -> Self {
        let client = |endpoint: &str| {
            let credentials =
                Credentials::new(&settings.access_key, settings.secret_key.expose(), None, None, "hubbub-settings");
            let config = aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(settings.region.clone()))
                .endpoint_url(endpoint)
                .credentials_provider(credentials)
                .force_path_style(true)
                .build();
            Client::from_conf(config)
        };
        let public = if settings.public_endpoint.is_empty() { &settings.endpoint } else { &settings.public_endpoint };
        Self { client: client(&settings.endpoint), signer: client(public), settings }
    }

    /// `Ok` when the service answers and the bucket exists (readiness).
    pub async fn answers(&self) -> Result<()> {
        self.client
            .head_bucket()
            .bucket(&self.settings.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::Service(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))
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

    /// A URL to upload exactly `size` bytes of `content_type` to `key`, once: the service refuses
    /// any other type or length, and a second upload to the key, because all three are signed.
    /// With a `disposition`, downloads carry it (also signed).
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        disposition: Option<&Disposition>,
    ) -> Result<Presigned> {
        let ttl = Duration::from_secs(self.settings.put_ttl_secs);
        let size = i64::try_from(size).map_err(|_| Error::Signing("size too large".into()))?;
        let request = self
            .signer
            .put_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size)
            .if_none_match("*")
            .set_content_disposition(disposition.map(Disposition::header))
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

    /// A short-lived URL to download `key`; with a `disposition`, the answer asks the service
    /// to present it so (services that store the upload's own disposition use that one).
    pub async fn presign_get(&self, key: &str, disposition: Option<&Disposition>) -> Result<Presigned> {
        let ttl = Duration::from_secs(self.settings.get_ttl_secs);
        let request = self
            .signer
            .get_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .set_response_content_disposition(disposition.map(Disposition::header))
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

    /// Up to the first `max` bytes of `key` (all of it when shorter); `None` when nothing is
    /// stored there.
    pub async fn read(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let range = format!("bytes=0-{}", max.saturating_sub(1));
        let got = self.client.get_object().bucket(&self.settings.bucket).key(key).range(range).send().await;
        let object = match got {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            // A range past the end of an empty object.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => return Ok(Some(Vec::new())),
            Err(e) => return Err(Error::Service(aws_sdk_s3::error::DisplayErrorContext(e).to_string())),
        };
        let body = object.body.collect().await.map_err(|e| Error::Service(e.to_string()))?;
        let mut bytes = body.to_vec();
        bytes.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        Ok(Some(bytes))
    }

    /// Stores `bytes` under `key`.
    pub async fn write(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| Error::Service(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Removes `key` (nothing there is fine).
    pub async fn remove(&self, key: &str) -> Result<()> {
        match self.client.delete_object().bucket(&self.settings.bucket).key(key).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some() && e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Ok(())
            }
            Err(e) => Err(Error::Service(aws_sdk_s3::error::DisplayErrorContext(e).to_string())),
        }
    }

    /// Removes every object whose key starts with `prefix`; how many there were.
    pub async fn remove_prefix(&self, prefix: &str) -> Result<usize> {
        let mut removed = 0;
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.settings.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| Error::Service(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    self.remove(key).await?;
                    removed += 1;
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(removed),
            }
        }
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
