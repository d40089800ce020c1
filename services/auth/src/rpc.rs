//! `hubbub.auth.v1.AuthService`, the one implementation behind both transports.

use hubbub_proto::auth::auth_service_server::AuthService;
use hubbub_proto::auth::{AuthResponse, LoginRequest, RegisterRequest};
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_proto::user::{CreateUserRequest, GetUserRequest};
use hubbub_rpc::{Channel, Ctx};
use hubbub_token::Tokens;
use mongodb::bson::oid::ObjectId;
use tonic::{Request, Response, Status};

use crate::domain::{Email, Hasher, Password, Username, display_name};
use crate::store::{Account, AccountStore};
use crate::{AuthSettings, Result};

/// The auth service's state.
pub struct Auth<S> {
    pub(crate) settings: AuthSettings,
    pub(crate) store: S,
    pub(crate) hasher: Hasher,
    pub(crate) tokens: Tokens,
    pub(crate) users: UserServiceClient<Channel>,
}

impl<S: AccountStore> Auth<S> {
    async fn register_account(&self, ctx: &Ctx, r: RegisterRequest) -> Result<AuthResponse> {
        let username = Username::parse(&r.username, &self.settings)?;
        let email = Email::parse(&r.email)?;
        let password = Password::parse(&r.password, &self.settings)?;
        let display_name = display_name(r.display_name.as_deref(), &username, &self.settings)?;
        let account = Account {
            id: ObjectId::new().to_hex(),
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash: self.hasher.hash(password).await?,
            created_at_ms: mongodb::bson::DateTime::now().timestamp_millis(),
        };
        self.store.insert(&account).await?;
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
                if let Err(e) = self.store.delete(&account.id).await {
                    tracing::error!(error = %e, user_id = %account.id, "undoing a half-made registration");
                }
                return Err(status.into());
            }
        };
        tracing::info!(user_id = %user.id, "registered");
        self.respond(user)
    }

    async fn log_in(&self, ctx: &Ctx, r: LoginRequest) -> Result<AuthResponse> {
        let account = self.store.find_by_login(r.login.trim()).await?;
        let ok = self
            .hasher
            .verify(
                &r.password,
                account.as_ref().map(|a| a.password_hash.clone()),
            )
            .await?;
        let account = match account {
            Some(a) if ok => a,
            _ => return Err(crate::Error::BadCredentials),
        };
        let user = self
            .users
            .clone()
            .get_user(ctx.request(GetUserRequest { id: account.id }))
            .await?
            .into_inner();
        self.respond(user)
    }

    fn respond(&self, user: hubbub_proto::user::User) -> Result<AuthResponse> {
        let access_token = self.tokens.issue(&user.id, &user.username)?;
        let expires_in = u32::try_from(self.tokens.ttl().as_secs()).unwrap_or(u32::MAX);
        Ok(AuthResponse {
            user: Some(user),
            access_token,
            expires_in,
        })
    }
}

#[tonic::async_trait]
impl<S: AccountStore> AuthService for Auth<S> {
    #[tracing::instrument(skip_all, fields(request_id))]
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let ctx = Ctx::from_request(&req);
        tracing::Span::current().record("request_id", ctx.request_id.as_str());
        Ok(Response::new(
            self.register_account(&ctx, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(request_id))]
    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<AuthResponse>, Status> {
        let ctx = Ctx::from_request(&req);
        tracing::Span::current().record("request_id", ctx.request_id.as_str());
        Ok(Response::new(self.log_in(&ctx, req.into_inner()).await?))
    }
}
