//! `hubbub.auth.v1.AuthService`, the one implementation behind both transports.

use std::time::Duration;

use hubbub_proto::auth::auth_service_server::AuthService;
use hubbub_proto::auth::{
    AuthResponse, ChangePasswordRequest, DeleteAccountRequest, DisconnectRequest, Empty, LoginRequest, LogoutRequest,
    RefreshRequest, RegisterRequest,
};
use hubbub_proto::events::{AccountDeleted, AuthEvent, DisconnectRequested, SessionsRevoked, auth_event};
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_proto::user::{CreateUserRequest, DeleteUserRequest, GetUserRequest, User};
use hubbub_redis::Redis;
use hubbub_rpc::{Channel, Ctx};
use hubbub_token::Tokens;
use mongodb::bson::DateTime;
use mongodb::bson::oid::ObjectId;
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::domain::{Email, Hasher, Password, Username, display_name, new_refresh_token, refresh_token_hash};
use crate::store::{Account, AccountStore, Outgoing, Presented, RefreshRecord, SessionStore};
use crate::{AuthSettings, Error, Result};

/// The auth service's state.
pub struct Auth<S> {
    pub(crate) settings: AuthSettings,
    pub(crate) store: S,
    pub(crate) hasher: Hasher,
    pub(crate) tokens: Tokens,
    pub(crate) users: UserServiceClient<Channel>,
    pub(crate) redis: Redis,
    /// Full name of the auth events topic.
    pub(crate) events_topic: String,
}

fn now_ms() -> i64 {
    DateTime::now().timestamp_millis()
}

impl<S: AccountStore + SessionStore> Auth<S> {
    fn is_bootstrap_admin(&self, username: &str) -> bool {
        self.settings.bootstrap_admin.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(username))
    }

    async fn register_account(&self, ctx: &Ctx, r: RegisterRequest) -> Result<AuthResponse> {
        let username = Username::parse(&r.username, &self.settings)?;
        let email = Email::parse(&r.email)?;
        let password = Password::parse(&r.password, &self.settings)?;
        let display_name = display_name(r.display_name.as_deref(), &username, &self.settings)?;
        if self.is_bootstrap_admin(username.as_str()) {
            // The first admin's account is made by the service itself, never by whoever asks:
            // to everyone else the name is taken.
            return Err(Error::UsernameTaken);
        }
        // Per address, counted before the slow hash: one client cannot mint accounts.
        if let Some(ip) = ctx.client_ip.as_deref().filter(|ip| !ip.is_empty()) {
            let window = Duration::from_secs(self.settings.register_window_secs);
            let (made, wait) = self.redis.hit(&["register", "ip", ip], window).await?;
            if made > self.settings.registrations_per_ip {
                return Err(Error::RateLimited(wait));
            }
        }
        let account = Account {
            id: ObjectId::new().to_hex(),
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash: self.hasher.hash(password).await?,
            admin: false,
            created_at_ms: now_ms(),
        };
        let user = self.create_account(ctx, &account, display_name).await?;
        tracing::info!(user_id = %user.id, "registered");
        self.start_session(&account, user).await
    }

    /// Stores an account and its profile, or neither.
    async fn create_account(&self, ctx: &Ctx, account: &Account, display_name: String) -> Result<User> {
        self.store.insert(account).await?;
        let created = self
            .users
            .clone()
            .create_user(ctx.request(CreateUserRequest {
                id: account.id.clone(),
                username: account.username.clone(),
                display_name,
            }))
            .await;
        let user = match created {
            Ok(user) => user.into_inner(),
            Err(status) => {
                // Without a profile the account is unusable: undo it so the name is free again.
                if let Err(e) = self.store.delete(&account.id, &[]).await {
                    tracing::error!(error = %e, user_id = %account.id, "undoing a half-made registration");
                }
                return Err(status.into());
            }
        };
        Ok(user)
    }

    /// Makes sure the configured first administrator exists and is one: created with the
    /// configured password if missing. Nothing to do without both settings.
    pub(crate) async fn ensure_bootstrap_admin(&self) -> Result<()> {
        let (Some(name), Some(password)) = (&self.settings.bootstrap_admin, &self.settings.bootstrap_admin_password)
        else {
            if let Some(name) = &self.settings.bootstrap_admin {
                tracing::warn!(%name, "auth.bootstrap_admin is set without auth.bootstrap_admin_password: the name is kept free and nobody is admin");
            }
            return Ok(());
        };
        let ctx = Ctx::new(format!("bootstrap-{}", ObjectId::new().to_hex()));
        if let Some(account) = self.store.find_by_login(&name.to_lowercase()).await? {
            if !account.admin {
                self.store.make_admin(&account.id).await?;
                tracing::info!(user_id = %account.id, "bootstrap admin promoted");
            }
            return Ok(());
        }
        let username = Username::parse(name, &self.settings)?;
        let password = Password::parse(password.expose(), &self.settings)?;
        let account = Account {
            id: ObjectId::new().to_hex(),
            username: username.as_str().to_owned(),
            // Nobody can have registered this address before: it is new and unguessable.
            email: format!("{}@{}.bootstrap.invalid", username.as_str().to_lowercase(), ObjectId::new().to_hex()),
            password_hash: self.hasher.hash(password).await?,
            admin: true,
            created_at_ms: now_ms(),
        };
        let display_name = display_name(None, &username, &self.settings)?;
        match self.create_account(&ctx, &account, display_name).await {
            Ok(user) => {
                tracing::info!(user_id = %user.id, "bootstrap admin created");
                Ok(())
            }
            // Another replica made it meanwhile.
            Err(Error::UsernameTaken | Error::EmailTaken) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn log_in(&self, ctx: &Ctx, r: LoginRequest) -> Result<AuthResponse> {
        let login = r.login.trim().to_lowercase();
        let ip = ctx.client_ip.clone().unwrap_or_default();
        let window = Duration::from_secs(self.settings.login_window_secs);
        let account = self.store.find_by_login(&login).await?;
        // Per (account, address): failures only, so an attacker cannot lock a user out by
        // trying once, and failures from one address lock out that address only; keyed by the
        // account, so username and email share one budget.
        let key = failure_key(account.as_ref().map(|a| a.id.as_str()), &login);
        let (failures, wait) = self.redis.count(&["login", "fail", &key, &ip]).await?;
        if failures >= self.settings.login_failures_per_account {
            return Err(Error::RateLimited(wait));
        }
        // Per address: every attempt, so one client cannot spray many accounts.
        if !ip.is_empty() {
            let (attempts, wait) = self.redis.hit(&["login", "ip", &ip], window).await?;
            if attempts > self.settings.login_attempts_per_ip {
                return Err(Error::RateLimited(wait));
            }
        }
        // A place for the slow verification first: a login shed for load is not counted as a
        // failure (or an attacker flooding the hasher could lock a user out).
        let admission = self.hasher.admit()?;
        // Counted before the slow verification, so parallel guesses cannot all slip under the
        // limit; a success clears it again.
        let (failures, wait) = self.redis.hit(&["login", "fail", &key, &ip], window).await?;
        if failures > self.settings.login_failures_per_account {
            return Err(Error::RateLimited(wait));
        }
        let phc = account.as_ref().map(|a| a.password_hash.clone());
        let ok = self.hasher.verify_admitted(admission, &r.password, phc).await?;
        let account = match account {
            Some(a) if ok => a,
            _ => return Err(Error::BadCredentials),
        };
        self.redis.reset(&["login", "fail", &key, &ip]).await?;
        let user = self.profile(ctx, &account.id).await?;
        self.start_session(&account, user).await
    }

    async fn refresh_session(&self, ctx: &Ctx, r: RefreshRequest) -> Result<AuthResponse> {
        let hash = refresh_token_hash(&r.refresh_token);
        let now = now_ms();
        let record = match self.store.present(&hash, now).await? {
            Presented::Fresh(rec) if rec.expires_at_ms > now => rec,
            Presented::Fresh(_) | Presented::Revoked | Presented::Unknown => return Err(Error::InvalidRefresh),
            Presented::Spent(rec) => {
                // Two parties hold this session's tokens: end it for both.
                tracing::warn!(user_id = %rec.user_id, session = %rec.family, "refresh token reused; revoking the session");
                self.revoke_sessions(ctx, &rec.user_id, std::slice::from_ref(&rec.family)).await?;
                return Err(Error::RefreshReused);
            }
        };
        let account = self.store.find_by_id(&record.user_id).await?.ok_or(Error::InvalidRefresh)?;
        let user = self.profile(ctx, &account.id).await?;
        let issued = self.issue(&account, user, &record.family).await?;
        // A logout or password change may have revoked this session while we worked: its
        // revocation covers the token we just stored if it came later, and this re-read catches
        // it if it came earlier, so no live token can outlast a revoked session.
        if matches!(self.store.present(&hash, now).await?, Presented::Revoked) {
            self.revoke_sessions(ctx, &record.user_id, std::slice::from_ref(&record.family)).await?;
            return Err(Error::InvalidRefresh);
        }
        Ok(issued)
    }

    async fn log_out(&self, ctx: &Ctx, r: LogoutRequest) -> Result<()> {
        // Unknown tokens are fine: logging out twice is not an error.
        if let Some(rec) = self.store.family_of(&refresh_token_hash(&r.refresh_token)).await? {
            self.revoke_sessions(ctx, &rec.user_id, &[rec.family]).await?;
        }
        Ok(())
    }

    async fn set_password(&self, ctx: &Ctx, r: ChangePasswordRequest) -> Result<()> {
        let caller = ctx.caller()?;
        let account = self.store.find_by_id(caller).await?.ok_or(Error::NoAccount)?;
        let window = Duration::from_secs(self.settings.login_window_secs);
        let key = failure_key(Some(&account.id), "");
        let (failures, wait) = self.redis.count(&["login", "fail", &key]).await?;
        if failures >= self.settings.login_failures_per_account {
            return Err(Error::RateLimited(wait));
        }
        if !self.hasher.verify(&r.current_password, Some(account.password_hash.clone())).await? {
            self.redis.hit(&["login", "fail", &key], window).await?;
            return Err(Error::WrongPassword);
        }
        let new = Password::parse(&r.new_password, &self.settings)?;
        self.store.set_password(&account.id, &self.hasher.hash(new).await?).await?;
        let keep = Some(r.session_id.as_str()).filter(|s| !s.is_empty());
        // Their access tokens first, so a socket the sessions' event closes cannot come back;
        // a session that started meanwhile is revoked just after.
        let live = self.store.live_sessions(&account.id, keep).await?;
        self.revoke_access(&live).await?;
        let revoked = self
            .store
            .revoke_user(&account.id, keep, |families| {
                let event = SessionsRevoked { session_ids: families.to_vec() };
                if families.is_empty() {
                    vec![]
                } else {
                    vec![self.event(ctx, &account.id, auth_event::Event::SessionsRevoked(event))]
                }
            })
            .await?;
        let newer: Vec<String> = revoked.iter().filter(|f| !live.contains(f)).cloned().collect();
        self.revoke_access(&newer).await?;
        tracing::info!(user_id = %account.id, sessions_revoked = revoked.len(), "password changed");
        Ok(())
    }

    async fn remove_account(&self, ctx: &Ctx) -> Result<()> {
        let caller = ctx.caller()?.to_owned();
        // Tokens stop working first; whatever fails after, the account is already unusable.
        self.redis.revoke_user(&caller, self.tokens.ttl()).await?;
        // Its sessions end with it: the deletion's event closes every socket of the account.
        self.store.revoke_user(&caller, None, |_| vec![]).await?;
        let deleted = self.event(ctx, &caller, auth_event::Event::AccountDeleted(AccountDeleted {}));
        self.store.delete(&caller, &[deleted]).await?;
        self.users.clone().delete_user(ctx.request(DeleteUserRequest { id: caller.clone() })).await?;
        tracing::info!(user_id = %caller, "account deleted");
        Ok(())
    }

    async fn disconnect_user(&self, ctx: &Ctx, r: DisconnectRequest) -> Result<()> {
        let caller = self.store.find_by_id(ctx.caller()?).await?.ok_or(Error::NoAccount)?;
        if !caller.admin {
            return Err(Error::NotAdmin);
        }
        let order = self.event(ctx, &r.user_id, auth_event::Event::DisconnectRequested(DisconnectRequested {}));
        self.store.announce(&[order]).await?;
        tracing::info!(user_id = %r.user_id, by = %caller.id, "disconnect requested");
        Ok(())
    }

    /// The record that tells chat nodes and the group service, for the store's outbox (which
    /// publishes it once the change it reports is committed).
    fn event(&self, ctx: &Ctx, user_id: &str, event: auth_event::Event) -> Outgoing {
        let payload = AuthEvent { user_id: user_id.to_owned(), at_ms: now_ms(), event: Some(event) }.encode_to_vec();
        Outgoing {
            topic: self.events_topic.clone(),
            key: user_id.to_owned(),
            payload,
            request_id: Some(ctx.request_id.clone()),
        }
    }

    async fn profile(&self, ctx: &Ctx, id: &str) -> Result<User> {
        Ok(self.users.clone().get_user(ctx.request(GetUserRequest { id: id.to_owned() })).await?.into_inner())
    }

    /// Ends these sessions: their access tokens first (so a socket their event closes cannot
    /// come back), then their refresh tokens, with the event stored in the same write.
    async fn revoke_sessions(&self, ctx: &Ctx, user_id: &str, families: &[String]) -> Result<()> {
        self.revoke_access(families).await?;
        for family in families {
            let event = SessionsRevoked { session_ids: vec![family.clone()] };
            let event = self.event(ctx, user_id, auth_event::Event::SessionsRevoked(event));
            self.store.revoke_family(family, &[event]).await?;
        }
        Ok(())
    }

    /// Refuses the access tokens of these sessions from now until they would expire anyway.
    async fn revoke_access(&self, families: &[String]) -> Result<()> {
        for family in families {
            self.redis.revoke_session(family, self.tokens.ttl()).await?;
        }
        Ok(())
    }

    async fn start_session(&self, account: &Account, user: User) -> Result<AuthResponse> {
        self.issue(account, user, &ObjectId::new().to_hex()).await
    }

    /// A new refresh token in session `family`, and an access token naming it.
    async fn issue(&self, account: &Account, user: User, family: &str) -> Result<AuthResponse> {
        let refresh_token = new_refresh_token();
        let ttl_ms = i64::try_from(self.settings.refresh_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.store
            .insert_refresh(&RefreshRecord {
                hash: refresh_token_hash(&refresh_token),
                family: family.to_owned(),
                user_id: account.id.clone(),
                expires_at_ms: now_ms().saturating_add(ttl_ms),
            })
            .await?;
        let role = if account.admin { "admin" } else { "user" };
        let access_token = self.tokens.issue(&user.id, &user.username, family, account.admin.then_some("admin"))?;
        let expires_in = u32::try_from(self.tokens.ttl().as_secs()).unwrap_or(u32::MAX);
        Ok(AuthResponse { user: Some(user), access_token, expires_in, refresh_token, role: role.into() })
    }
}

/// The key failed attempts are counted under: the account when it exists, else the login
/// string (unknown logins are limited too, and look the same from outside).
fn failure_key(account_id: Option<&str>, login: &str) -> String {
    match account_id {
        Some(id) => format!("a:{id}"),
        None => format!("l:{login}"),
    }
}

#[tonic::async_trait]
impl<S: AccountStore + SessionStore> AuthService for Auth<S> {
    async fn register(&self, req: Request<RegisterRequest>) -> Result<Response<AuthResponse>, Status> {
        let ctx = Ctx::from_request(&req);
        Ok(Response::new(self.register_account(&ctx, req.into_inner()).await?))
    }

    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<AuthResponse>, Status> {
        let ctx = Ctx::from_request(&req);
        Ok(Response::new(self.log_in(&ctx, req.into_inner()).await?))
    }

    async fn refresh(&self, req: Request<RefreshRequest>) -> Result<Response<AuthResponse>, Status> {
        let ctx = Ctx::from_request(&req);
        Ok(Response::new(self.refresh_session(&ctx, req.into_inner()).await?))
    }

    async fn logout(&self, req: Request<LogoutRequest>) -> Result<Response<Empty>, Status> {
        let ctx = Ctx::from_request(&req);
        self.log_out(&ctx, req.into_inner()).await?;
        Ok(Response::new(Empty {}))
    }

    async fn change_password(&self, req: Request<ChangePasswordRequest>) -> Result<Response<Empty>, Status> {
        let ctx = Ctx::from_request(&req);
        self.set_password(&ctx, req.into_inner()).await?;
        Ok(Response::new(Empty {}))
    }

    async fn delete_account(&self, req: Request<DeleteAccountRequest>) -> Result<Response<Empty>, Status> {
        let ctx = Ctx::from_request(&req);
        self.remove_account(&ctx).await?;
        Ok(Response::new(Empty {}))
    }

    async fn disconnect(&self, req: Request<DisconnectRequest>) -> Result<Response<Empty>, Status> {
        let ctx = Ctx::from_request(&req);
        self.disconnect_user(&ctx, req.into_inner()).await?;
        Ok(Response::new(Empty {}))
    }
}
