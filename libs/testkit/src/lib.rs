//! Test support for hubbub's integration tests: services spawned in the test process and
//! stopped together (each must end cleanly), and users seeded in the user service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;

use hubbub_proto::user::CreateUserRequest;
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_rpc::{Channel, Ctx};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Services running in the test process until [`Running::stop`].
#[derive(Default)]
pub struct Running {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Nothing running yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shutdown every service should stop on.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs a service (its `run(deps, listener, shutdown)` future).
    pub fn spawn(&mut self, service: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        self.tasks.push(tokio::spawn(service));
    }

    /// Fires the shutdown and waits for every service; panics if one failed or did not stop
    /// within 30 s (naming it by the order it was spawned in).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for (i, t) in self.tasks.into_iter().enumerate() {
            match tokio::time::timeout(std::time::Duration::from_secs(30), t).await {
                Ok(done) => done.unwrap().unwrap(),
                Err(_) => panic!("service #{i} (in spawn order) did not stop within 30 s of the shutdown"),
            }
        }
    }
}

/// Creates users whose id, username and display name are each of `names`.
pub async fn create_users(users: &mut UserServiceClient<Channel>, names: &[&str]) {
    for name in names {
        let req = CreateUserRequest { id: (*name).into(), username: (*name).into(), display_name: (*name).into() };
        users.create_user(Ctx::new("seed").request(req)).await.unwrap();
    }
}
