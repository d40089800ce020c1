//! `hubbub.user.v1.UserService`, the one implementation behind both transports.

use hubbub_proto::user::user_service_server::UserService;
use hubbub_proto::user::{
    CreateUserRequest, DeleteUserRequest, DeleteUserResponse, GetPresenceRequest, GetUserRequest, Presence,
    SearchUsersRequest, SearchUsersResponse, TouchLastSeenRequest, TouchLastSeenResponse, UpdateProfileRequest, User,
};
use hubbub_redis::Redis;
use hubbub_rpc::Ctx;
use mongodb::bson::DateTime;
use tonic::{Request, Response, Status};

use crate::store::{Change, UserStore};
use crate::{Error, Result, UserSettings};

/// The user service's state.
pub struct Users<S> {
    pub(crate) settings: UserSettings,
    pub(crate) store: S,
    pub(crate) redis: Redis,
}

/// Checks a free-text field: trimmed, no control characters, within `max` characters.
fn text(field: &str, value: &str, max: usize, allow_empty: bool) -> Result<String> {
    let v = value.trim();
    if (!allow_empty && v.is_empty()) || v.chars().count() > max {
        let min = if allow_empty { 0 } else { 1 };
        return Err(Error::Invalid(format!("{field} must be {min}–{max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::Invalid(format!("{field} may not contain control characters")));
    }
    Ok(v.to_owned())
}

impl<S: UserStore> Users<S> {
    async fn update(&self, caller: &str, r: UpdateProfileRequest) -> Result<User> {
        let s = &self.settings;
        let mut change = Change::default();
        if let Some(name) = r.display_name {
            change.display_name = Some(text("displayName", &name, s.display_name_max, false)?);
        }
        if let Some(bio) = r.bio {
            let bio = text("bio", &bio, s.bio_max, true)?;
            change.bio = Some(Some(bio).filter(|b| !b.is_empty()));
        }
        if let Some(key) = r.avatar_key {
            // Only an object this user was allowed to upload may become their avatar.
            let own = format!("avatars/{caller}/");
            if !key.is_empty() && (!key.starts_with(&own) || key.len() > 200 || key.contains("..")) {
                return Err(Error::Invalid("avatarKey must come from your own avatar upload".into()));
            }
            change.avatar_key = Some(Some(key).filter(|k| !k.is_empty()));
        }
        self.store.update(caller, change).await?.ok_or(Error::NotFound)
    }

    async fn search(&self, r: SearchUsersRequest) -> Result<SearchUsersResponse> {
        let query = r.query.trim().to_lowercase();
        if query.is_empty() || query.chars().count() > self.settings.search_query_max {
            return Err(Error::Invalid(format!("q must be 1–{} characters", self.settings.search_query_max)));
        }
        let limit = match r.limit {
            0 => self.settings.search_default_limit,
            n => n.min(self.settings.search_max_limit),
        };
        let after = match r.cursor.as_str() {
            "" => None,
            c => Some(
                hubbub_api::cursor::decode(c, 1)
                    .and_then(|mut p| p.pop())
                    .ok_or_else(|| Error::Invalid("invalid cursor".into()))?,
            ),
        };
        let users = self.store.search(&query, after.as_deref(), limit).await?;
        let next_cursor = match users.last() {
            Some(last) if users.len() == limit as usize => hubbub_api::cursor::encode(&[&last.username.to_lowercase()]),
            _ => String::new(),
        };
        Ok(SearchUsersResponse { users, next_cursor })
    }

    async fn presence(&self, id: &str) -> Result<Presence> {
        let user = self.store.get(id).await?.ok_or(Error::NotFound)?;
        let online = self.redis.online(id, DateTime::now().timestamp_millis()).await?;
        Ok(Presence { online, last_seen_at_ms: user.last_seen_at_ms })
    }
}

#[tonic::async_trait]
impl<S: UserStore> UserService for Users<S> {
    async fn create_user(&self, req: Request<CreateUserRequest>) -> Result<Response<User>, Status> {
        let r = req.into_inner();
        if r.id.is_empty() || r.username.is_empty() {
            return Err(Error::Invalid("id and username are required".into()).into());
        }
        let user = User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            avatar_url: None,
            bio: None,
            created_at_ms: DateTime::now().timestamp_millis(),
            last_seen_at_ms: None,
            avatar_key: None,
        };
        Ok(Response::new(self.store.create(user).await?))
    }

    async fn get_user(&self, req: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        let user = self.store.get(&req.get_ref().id).await?.ok_or(Error::NotFound)?;
        Ok(Response::new(user))
    }

    async fn update_profile(&self, req: Request<UpdateProfileRequest>) -> Result<Response<User>, Status> {
        let ctx = Ctx::from_request(&req);
        let caller = ctx.caller()?.to_owned();
        Ok(Response::new(self.update(&caller, req.into_inner()).await?))
    }

    async fn delete_user(&self, req: Request<DeleteUserRequest>) -> Result<Response<DeleteUserResponse>, Status> {
        self.store.delete(&req.get_ref().id).await.map_err(Status::from)?;
        Ok(Response::new(DeleteUserResponse {}))
    }

    async fn search_users(&self, req: Request<SearchUsersRequest>) -> Result<Response<SearchUsersResponse>, Status> {
        Ok(Response::new(self.search(req.into_inner()).await?))
    }

    async fn get_presence(&self, req: Request<GetPresenceRequest>) -> Result<Response<Presence>, Status> {
        Ok(Response::new(self.presence(&req.get_ref().id).await?))
    }

    async fn touch_last_seen(
        &self,
        req: Request<TouchLastSeenRequest>,
    ) -> Result<Response<TouchLastSeenResponse>, Status> {
        let r = req.into_inner();
        self.store.touch_last_seen(&r.id, r.at_ms).await.map_err(Status::from)?;
        Ok(Response::new(TouchLastSeenResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(text("bio", "  hi  ", 10, true).ok().as_deref(), Some("hi"));
        assert!(text("displayName", "   ", 10, false).is_err());
        assert!(text("bio", &"x".repeat(11), 10, true).is_err());
        assert!(text("bio", "a\u{0}b", 10, true).is_err());
        assert_eq!(text("bio", "", 10, true).ok().as_deref(), Some(""));
    }
}
