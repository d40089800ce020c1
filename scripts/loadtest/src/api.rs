//! Just enough of hubbub's HTTP API to set a load test up: register users, make groups, read
//! history. Plain HTTP/1.1 over a pooled hyper client.

use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// A user the load test registered.
#[derive(Clone, Debug)]
pub struct Account {
    /// User id.
    pub id: String,
    /// Access token.
    pub token: String,
}

/// The API at `base` (e.g. `http://127.0.0.1:8080`).
#[derive(Clone)]
pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    /// A client with a connection pool.
    pub fn new(base: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build(connector);
        Self { base: base.trim_end_matches('/').to_owned(), client }
    }

    /// `METHOD /api/v1{path}` with an optional JSON body and bearer token: status and JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = Request::builder().method(method).uri(format!("{}/api/v1{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Full::new(Bytes::from(serde_json::to_vec(b)?))
            }
            None => Full::new(Bytes::new()),
        };
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.request(req.body(body)?))
            .await
            .context("request timed out")??;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Ok((status, json))
    }

    /// Registers `username` (password fixed) and returns its id and token.
    pub async fn register(&self, username: &str) -> anyhow::Result<Account> {
        let body =
            json!({ "username": username, "email": format!("{username}@loadtest.invalid"), "password": PASSWORD });
        let (status, v) = self.call(Method::POST, "/auth/register", Some(&body), None).await?;
        if status != StatusCode::CREATED {
            bail!("register {username}: {status} {v}");
        }
        account(&v)
    }

    /// Creates a private group owned by `owner` with `members` and returns its id.
    pub async fn create_group(&self, owner: &Account, name: &str, members: &[String]) -> anyhow::Result<String> {
        let body = json!({ "name": name, "visibility": "private", "memberIds": members });
        let (status, v) = self.call(Method::POST, "/groups", Some(&body), Some(&owner.token)).await?;
        if status != StatusCode::CREATED {
            bail!("create group {name}: {status} {v}");
        }
        v["id"].as_str().map(str::to_owned).context("group without id")
    }
}

/// The password of every load-test account.
const PASSWORD: &str = "load-test-password";

fn account(v: &Value) -> anyhow::Result<Account> {
    Ok(Account {
        id: v["user"]["id"].as_str().context("no user id")?.to_owned(),
        token: v["accessToken"].as_str().context("no access token")?.to_owned(),
    })
}
