//! The auth and user contracts, run over gRPC and over RabbitMQ against real MongoDB, Redis and
//! RabbitMQ (scripts/infra.sh up): registration, login by username or email, refresh rotation
//! and reuse detection, logout, password change, account deletion, profiles and search.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use hubbub_auth::AuthSettings;
use hubbub_mongo::MongoSettings;
use hubbub_proto::auth::auth_service_client::AuthServiceClient;
use hubbub_proto::auth::{
    AuthResponse, ChangePasswordRequest, DeleteAccountRequest, LoginRequest, LogoutRequest, RefreshRequest,
    RegisterRequest,
};
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_proto::user::{GetPresenceRequest, GetUserRequest, SearchUsersRequest, UpdateProfileRequest};
use hubbub_redis::RedisSettings;
use hubbub_rpc::{Channel, Connector, Ctx, RpcSettings, Transport, api_code};
use hubbub_testkit::Running;
use hubbub_token::{TokenSettings, Tokens};
use tokio::net::TcpListener;
use tonic::Code;

/// The configured first administrator's password.
const ROOT_PASSWORD: &str = "root-password-for-tests";

struct Suite {
    /// The Redis the services use (presence leases live there).
    redis: RedisSettings,
    auth: AuthServiceClient<Channel>,
    users: UserServiceClient<Channel>,
    tokens: Tokens,
    running: Running,
}

impl Suite {
    /// Auth and user services on fresh ports, with their own queues, databases and keys; the
    /// test's clients reach both over `transport` (and auth reaches user over it too).
    async fn start(transport: Transport) -> Self {
        let ns = format!("t{}", uuid::Uuid::new_v4().simple());
        let auth_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let user_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut rpc = RpcSettings { queue_prefix: format!("{ns}."), ..RpcSettings::development() };
        rpc.auth.grpc_addr = auth_l.local_addr().unwrap().to_string();
        rpc.user.grpc_addr = user_l.local_addr().unwrap().to_string();
        rpc.auth.transport = transport;
        rpc.user.transport = transport;
        let mongo = MongoSettings { database_prefix: format!("{ns}_"), ..MongoSettings::default() };
        let redis = RedisSettings { key_prefix: format!("{ns}:"), ..RedisSettings::default() };
        let auth_settings = AuthSettings {
            login_failures_per_account: 3,
            registrations_per_ip: 3,
            // One hash at a time and two waiting: a burst is shed, not queued.
            hash_concurrency: 1,
            hash_queue_max: 2,
            bootstrap_admin: Some("root".into()),
            bootstrap_admin_password: Some(hubbub_config::Secret::new(ROOT_PASSWORD)),
            ..AuthSettings::default()
        };
        let token = TokenSettings::development();
        let mut running = Running::new();
        {
            let (rpc, mongo, redis, shutdown) = (rpc.clone(), mongo.clone(), redis.clone(), running.shutdown());
            running.spawn(async move {
                let deps = hubbub_user::Deps { user: &Default::default(), rpc: &rpc, mongo: &mongo, redis: &redis };
                hubbub_user::run(deps, user_l, shutdown).await
            });
        }
        {
            let (rpc, mongo, redis, token, shutdown) =
                (rpc.clone(), mongo.clone(), redis.clone(), token.clone(), running.shutdown());
            running.spawn(async move {
                let kafka = hubbub_events::KafkaSettings {
                    topic_prefix: rpc.queue_prefix.clone(),
                    partitions: 1,
                    ..Default::default()
                };
                let deps = hubbub_auth::Deps {
                    auth: &auth_settings,
                    rpc: &rpc,
                    mongo: &mongo,
                    redis: &redis,
                    token: &token,
                    kafka: &kafka,
                };
                hubbub_auth::run(deps, auth_l, shutdown).await
            });
        }
        let connector = Connector::new(rpc.clone());
        Suite {
            redis,
            auth: AuthServiceClient::new(connector.channel(&rpc.auth).await.unwrap()),
            users: UserServiceClient::new(connector.channel(&rpc.user).await.unwrap()),
            tokens: Tokens::new(token).unwrap(),
            running,
        }
    }

    async fn stop(self) {
        self.running.stop().await;
    }

    async fn register(&self, name: &str) -> AuthResponse {
        let req = RegisterRequest {
            username: name.into(),
            email: format!("{name}@example.com"),
            password: "correct horse".into(),
            display_name: Some(format!("{name} Display")),
        };
        self.auth.clone().register(Ctx::new("r").request(req)).await.unwrap().into_inner()
    }

    async fn login(&self, login: &str, password: &str) -> Result<AuthResponse, tonic::Status> {
        self.login_from("10.1.2.3", login, password).await
    }

    async fn login_from(&self, ip: &str, login: &str, password: &str) -> Result<AuthResponse, tonic::Status> {
        let req = LoginRequest { login: login.into(), password: password.into() };
        self.auth.clone().login(Ctx::new("r").from_ip(ip).request(req)).await.map(|r| r.into_inner())
    }

    /// Logins as `login` from each of `ips`, all at once.
    async fn logins_from(&self, ips: Vec<String>, login: &str) -> Vec<Result<AuthResponse, tonic::Status>> {
        futures_util::future::join_all(ips.iter().map(|ip| self.login_from(ip, login, "correct horse"))).await
    }

    async fn register_from(&self, ip: &str, name: &str) -> Result<AuthResponse, tonic::Status> {
        let req = RegisterRequest {
            username: name.into(),
            email: format!("{name}@example.com"),
            password: "correct horse".into(),
            display_name: None,
        };
        self.auth.clone().register(Ctx::new("r").from_ip(ip).request(req)).await.map(|r| r.into_inner())
    }

    async fn refresh(&self, token: &str) -> Result<AuthResponse, tonic::Status> {
        let req = RefreshRequest { refresh_token: token.into() };
        self.auth.clone().refresh(Ctx::new("r").request(req)).await.map(|r| r.into_inner())
    }
}

fn user_id(r: &AuthResponse) -> String {
    r.user.as_ref().unwrap().id.clone()
}

async fn both(scenario: impl AsyncFn(&Suite)) {
    for transport in [Transport::Grpc, Transport::Amqp] {
        let suite = Suite::start(transport).await;
        scenario(&suite).await;
        suite.stop().await;
    }
}

#[tokio::test]
async fn registering_and_logging_in_give_tokens_for_the_same_user() {
    both(async |s: &Suite| {
        let reg = s.register("alice").await;
        let claims = s.tokens.verify(&reg.access_token).unwrap();
        assert_eq!(claims.sub, user_id(&reg));
        assert_eq!(reg.role, "user");
        assert!(!reg.refresh_token.is_empty());
        for login in ["alice", "ALICE", "alice@example.com", "Alice@Example.com"] {
            let again = s.login(login, "correct horse").await.unwrap();
            assert_eq!(user_id(&again), user_id(&reg), "{login}");
            assert_ne!(s.tokens.verify(&again.access_token).unwrap().sid, claims.sid, "a login is a new session");
        }
        let mut auth = s.auth.clone();
        let taken = auth.register(Ctx::new("r").request(RegisterRequest {
            username: "Alice".into(),
            email: "other@example.com".into(),
            password: "correct horse".into(),
            display_name: None,
        }));
        assert_eq!(api_code(&taken.await.unwrap_err()), Some("USERNAME_TAKEN"));
        let wrong = s.login("alice", "wrong password").await.unwrap_err();
        assert_eq!((wrong.code(), api_code(&wrong)), (Code::Unauthenticated, Some("INVALID_CREDENTIALS")));
        let unknown = s.login("nobody", "correct horse").await.unwrap_err();
        assert_eq!(api_code(&unknown), Some("INVALID_CREDENTIALS"), "unknown and wrong look the same");
    })
    .await;
}

#[tokio::test]
async fn the_configured_first_admin_is_made_by_the_service_and_no_stranger_can_register_the_name() {
    both(async |s: &Suite| {
        // A stranger racing for the name gets nothing, before and after the service made it.
        let taken = s.register_from("10.0.0.66", "Root").await.unwrap_err();
        assert_eq!(api_code(&taken), Some("USERNAME_TAKEN"));
        let mut root = s.login("root", ROOT_PASSWORD).await;
        for _ in 0..100 {
            if root.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            root = s.login("root", ROOT_PASSWORD).await;
        }
        let root = root.expect("the service made the first admin with the configured password");
        assert_eq!(root.role, "admin");
        assert_eq!(s.tokens.verify(&root.access_token).unwrap().role.as_deref(), Some("admin"));
        let taken = s.register_from("10.0.0.66", "root").await.unwrap_err();
        assert_eq!(api_code(&taken), Some("USERNAME_TAKEN"));
        let other = s.register("mallory").await;
        assert_eq!(s.tokens.verify(&other.access_token).unwrap().role, None);
    })
    .await;
}

#[tokio::test]
async fn registrations_are_limited_per_client_address() {
    both(async |s: &Suite| {
        for name in ["reg_a", "reg_b", "reg_c"] {
            s.register_from("10.7.7.7", name).await.unwrap();
        }
        let limited = s.register_from("10.7.7.7", "reg_d").await.unwrap_err();
        assert_eq!((limited.code(), api_code(&limited)), (Code::ResourceExhausted, Some("RATE_LIMIT_EXCEEDED")));
        assert!(hubbub_rpc::retry_after(&limited).is_some_and(|w| w >= 1));
        // Nothing was made for the refused one, and another address is not held back.
        assert_eq!(api_code(&s.login("reg_d", "correct horse").await.unwrap_err()), Some("INVALID_CREDENTIALS"));
        s.register_from("10.7.7.8", "reg_d").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_password_checks_is_shed_with_503_instead_of_queueing_without_end() {
    both(async |s: &Suite| {
        s.register("busy").await;
        let burst = s.logins_from((0..12).map(|k| format!("10.8.0.{k}")).collect(), "busy");
        let answers =
            tokio::time::timeout(std::time::Duration::from_secs(30), burst).await.expect("every request is answered");
        let ok = answers.iter().filter(|a| a.is_ok()).count();
        let shed = answers
            .iter()
            .filter(|a| matches!(a, Err(e) if e.code() == Code::Unavailable && api_code(e) == Some("OVERLOADED")))
            .count();
        println!("12 logins at once with 1 hash running and 2 waiting: {ok} answered, {shed} shed with 503");
        assert_eq!(ok + shed, 12, "nothing else: {answers:?}");
        assert!(ok >= 1 && shed >= 1, "some pass, the rest are shed");
        assert!(answers.iter().flatten().count() <= 12);
        // Once the burst is over, logins pass again.
        s.login("busy", "correct horse").await.unwrap();
        // The same from the user's own address: a login shed for load is no failed login, so
        // someone else's flood of the hasher cannot lock the user out (the lockout allows 3).
        let flood = s.logins_from((0..12).map(|k| format!("10.8.2.{k}")).collect(), "busy");
        let mine = s.logins_from(vec!["10.8.1.1".to_owned(); 4], "busy");
        let (_, answers) = tokio::join!(flood, mine);
        let shed = answers.iter().filter(|a| matches!(a, Err(e) if api_code(e) == Some("OVERLOADED"))).count();
        let after = s.login_from("10.8.1.1", "busy", "correct horse").await;
        println!(
            "a flood from 12 addresses while the user tried 4 times: {shed} of the user's shed; their next login: {:?}",
            after.as_ref().map(|_| "ok").map_err(|e| api_code(e).map(str::to_owned))
        );
        after.expect("not locked out by logins shed for load");
    })
    .await;
}

#[tokio::test]
async fn a_refresh_rotates_and_reusing_a_spent_token_revokes_the_session() {
    both(async |s: &Suite| {
        let reg = s.register("bob").await;
        let first = s.refresh(&reg.refresh_token).await.unwrap();
        assert_ne!(first.refresh_token, reg.refresh_token);
        let sid = s.tokens.verify(&reg.access_token).unwrap().sid;
        assert_eq!(s.tokens.verify(&first.access_token).unwrap().sid, sid, "same session");
        let second = s.refresh(&first.refresh_token).await.unwrap();

        // The spent first token comes back: the whole session dies, the newest token too.
        let reused = s.refresh(&reg.refresh_token).await.unwrap_err();
        assert_eq!(api_code(&reused), Some("REFRESH_TOKEN_REUSED"));
        let after = s.refresh(&second.refresh_token).await.unwrap_err();
        assert_eq!(api_code(&after), Some("INVALID_REFRESH_TOKEN"));
        // Another session of the same user lives on.
        let other = s.login("bob", "correct horse").await.unwrap();
        s.refresh(&other.refresh_token).await.unwrap();
        assert_eq!(api_code(&s.refresh("garbage").await.unwrap_err()), Some("INVALID_REFRESH_TOKEN"));
    })
    .await;
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    both(async |s: &Suite| {
        let reg = s.register("carol").await;
        let logout = || {
            let mut auth = s.auth.clone();
            let req = Ctx::new("r").request(LogoutRequest { refresh_token: reg.refresh_token.clone() });
            async move { auth.logout(req).await }
        };
        logout().await.unwrap();
        logout().await.unwrap();
        assert!(s.refresh(&reg.refresh_token).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    both(async |s: &Suite| {
        let here = s.register("dave").await;
        let elsewhere = s.login("dave", "correct horse").await.unwrap();
        let sid = s.tokens.verify(&here.access_token).unwrap().sid;
        let ctx = Ctx::new("r").as_user(user_id(&here));
        let change = |current: &str| ChangePasswordRequest {
            current_password: current.into(),
            new_password: "battery staple".into(),
            session_id: sid.clone(),
        };
        let wrong = s.auth.clone().change_password(ctx.request(change("nope nope"))).await.unwrap_err();
        assert_eq!(api_code(&wrong), Some("WRONG_PASSWORD"));
        s.auth.clone().change_password(ctx.request(change("correct horse"))).await.unwrap();

        assert_eq!(api_code(&s.refresh(&elsewhere.refresh_token).await.unwrap_err()), Some("INVALID_REFRESH_TOKEN"));
        s.refresh(&here.refresh_token).await.unwrap();
        assert!(s.login("dave", "correct horse").await.is_err());
        s.login("dave", "battery staple").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_with_a_retry_after() {
    both(async |s: &Suite| {
        s.register("erin").await;
        s.register("frank").await;
        // Username and email share one budget: alternating them buys nothing.
        for login in ["erin", "erin@example.com", "ERIN"] {
            assert_eq!(api_code(&s.login(login, "wrong password").await.unwrap_err()), Some("INVALID_CREDENTIALS"));
        }
        let by_email = s.login("erin@example.com", "correct horse").await.unwrap_err();
        assert_eq!(api_code(&by_email), Some("RATE_LIMIT_EXCEEDED"));
        let limited = s.login("erin", "correct horse").await.unwrap_err();
        assert_eq!((limited.code(), api_code(&limited)), (Code::ResourceExhausted, Some("RATE_LIMIT_EXCEEDED")));
        let wait = hubbub_rpc::retry_after(&limited).unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
        // Another account, same client address, is untouched; and the failures lock this
        // address out of this account, not the account for everyone.
        s.login("frank", "correct horse").await.unwrap();
        s.login_from("10.200.0.1", "erin", "correct horse").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_deleted_account_cannot_log_in_or_refresh_and_its_profile_is_gone() {
    both(async |s: &Suite| {
        let reg = s.register("gina").await;
        let id = user_id(&reg);
        s.auth
            .clone()
            .delete_account(Ctx::new("r").as_user(id.clone()).request(DeleteAccountRequest {}))
            .await
            .unwrap();
        assert_eq!(api_code(&s.login("gina", "correct horse").await.unwrap_err()), Some("INVALID_CREDENTIALS"));
        assert!(s.refresh(&reg.refresh_token).await.is_err());
        let gone = s.users.clone().get_user(Ctx::new("r").request(GetUserRequest { id })).await.unwrap_err();
        assert_eq!(gone.code(), Code::NotFound);
        // The name is free again.
        s.register("gina").await;
    })
    .await;
}

#[tokio::test]
async fn profiles_update_and_search_by_prefix_pages_with_a_cursor() {
    both(async |s: &Suite| {
        let hana = s.register("hana").await;
        for n in ["hank", "harold", "ivan"] {
            s.register(n).await;
        }
        let ctx = Ctx::new("r").as_user(user_id(&hana));
        let updated = s
            .users
            .clone()
            .update_profile(ctx.request(UpdateProfileRequest {
                display_name: Some("Zed".into()),
                bio: Some("  hello  ".into()),
                avatar_key: None,
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((updated.display_name.as_str(), updated.bio.as_deref()), ("Zed", Some("hello")));
        let foreign =
            UpdateProfileRequest { avatar_key: Some("avatars/someone-else/x.png".into()), ..Default::default() };
        assert_eq!(
            api_code(&s.users.clone().update_profile(ctx.request(foreign)).await.unwrap_err()),
            Some("VALIDATION_ERROR")
        );

        let search = |q: &str, cursor: &str| {
            let req = SearchUsersRequest { query: q.into(), limit: 2, cursor: cursor.into() };
            let mut c = s.users.clone();
            async move { c.search_users(Ctx::new("r").request(req)).await.unwrap().into_inner() }
        };
        let page1 = search("HA", "").await;
        assert_eq!(page1.users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["hana", "hank"]);
        let page2 = search("ha", &page1.next_cursor).await;
        assert_eq!(page2.users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["harold"]);
        assert!(page2.next_cursor.is_empty());
        let by_display = search("ze", "").await;
        assert_eq!(by_display.users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["hana"]);

        // Presence follows the sockets' leases in Redis, as a chat node holds them.
        let presence = async || {
            let req = GetPresenceRequest { id: user_id(&hana) };
            s.users.clone().get_presence(ctx.request(req)).await.unwrap().into_inner()
        };
        assert!(!presence().await.online, "no socket yet");
        let redis = hubbub_redis::Redis::connect(&s.redis).await.unwrap();
        let now =
            i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis())
                .unwrap();
        redis.socket_alive(&user_id(&hana), "chat-1:s1", now, std::time::Duration::from_secs(60)).await.unwrap();
        assert!(presence().await.online, "a live socket makes the user online");
        redis.socket_gone(&user_id(&hana), "chat-1:s1", now).await.unwrap();
        assert!(!presence().await.online, "the last socket gone: offline again");
    })
    .await;
}
