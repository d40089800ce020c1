//! `hubbub.user.v1.UserService`, the one implementation behind both transports.

use hubbub_proto::user::user_service_server::UserService;
use hubbub_proto::user::{CreateUserRequest, GetUserRequest, User};
use tonic::{Request, Response, Status};

use crate::Error;
use crate::store::UserStore;

/// The user service's state.
pub struct Users<S> {
    pub(crate) store: S,
}

#[tonic::async_trait]
impl<S: UserStore> UserService for Users<S> {
    async fn create_user(&self, req: Request<CreateUserRequest>) -> Result<Response<User>, Status> {
        let r = req.into_inner();
        if r.id.is_empty() || r.username.is_empty() {
            return Err(Error::Invalid("id and username are required".into()).into());
        }
        let created_at_ms = mongodb::bson::DateTime::now().timestamp_millis();
        let user = User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            avatar_url: None,
            bio: None,
            created_at_ms,
        };
        Ok(Response::new(self.store.create(user).await?))
    }

    async fn get_user(&self, req: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        let id = req.into_inner().id;
        let user = self.store.get(&id).await?.ok_or(Error::NotFound)?;
        Ok(Response::new(user))
    }
}
