//! Who takes part in a run: users (registered through the API, or made up for the Node
//! reference), their groups, and where each user's sockets connect from.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::api::{Account, Api};
use crate::sio::Target;

/// How the run reaches the system under test.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The HTTP API base (hubbub only).
    pub api: Api,
    /// Socket.IO servers; sockets are dealt over them in turn.
    pub sockets: Vec<SocketAddr>,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1 + spread).
    pub spread: u8,
    /// The Node reference server: no API, made-up users, the auth object names the groups.
    pub reference: bool,
    /// A short id that makes this run's names and client message ids unique.
    pub run_id: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Api")
    }
}

/// Users and groups of a run.
#[derive(Clone, Debug, Default)]
pub struct Population {
    /// Every user.
    pub users: Vec<Account>,
    /// Every group: its id and its members (indexes into `users`).
    pub groups: Vec<(String, Vec<usize>)>,
}

impl Endpoint {
    /// Where socket `i` connects and from which address.
    pub fn target(&self, i: usize) -> Target {
        let addr = self.sockets[i % self.sockets.len()];
        let local = if addr.ip().is_loopback() && self.spread > 0 {
            let last = 2 + u8::try_from(i % usize::from(self.spread)).unwrap_or(0);
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        } else {
            None
        };
        Target { addr, local }
    }

    /// The handshake's auth object for `user` in `groups`.
    pub fn auth(&self, user: &Account, groups: &[&str]) -> Value {
        if self.reference { json!({ "token": user.token, "groups": groups }) } else { json!({ "token": user.token }) }
    }

    /// `users` accounts: registered through the API (8 at a time), or made up for the reference.
    pub async fn users(&self, users: usize) -> anyhow::Result<Vec<Account>> {
        if self.reference {
            return Ok((0..users)
                .map(|i| {
                    let id = format!("{}-u{i}", self.run_id);
                    Account { token: id.clone(), id }
                })
                .collect());
        }
        let gate = Arc::new(Semaphore::new(8));
        let mut tasks = Vec::with_capacity(users);
        for i in 0..users {
            let (api, gate, name) = (self.api.clone(), gate.clone(), format!("lt{}_{i}", self.run_id));
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await?;
                let mut tries = 0;
                loop {
                    match api.register(&name).await {
                        Ok(a) => return anyhow::Ok(a),
                        Err(e) if tries < 3 => {
                            tries += 1;
                            eprintln!("retrying registration of {name}: {e:#}");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }));
        }
        let mut out = Vec::with_capacity(users);
        for t in tasks {
            out.push(t.await.context("registration task")??);
        }
        Ok(out)
    }

    /// `groups` groups of `members` users each (a fresh set of users per group).
    pub async fn population(&self, groups: usize, members: usize) -> anyhow::Result<Population> {
        let users = self.users(groups * members).await?;
        let mut out = Population { users, groups: Vec::with_capacity(groups) };
        for g in 0..groups {
            let idx: Vec<usize> = (g * members..(g + 1) * members).collect();
            let id = if self.reference {
                format!("{}-g{g}", self.run_id)
            } else {
                let others: Vec<String> = idx[1..].iter().map(|&i| out.users[i].id.clone()).collect();
                self.api.create_group(&out.users[idx[0]], &format!("load {} {g}", self.run_id), &others).await?
            };
            out.groups.push((id, idx));
        }
        Ok(out)
    }
}
