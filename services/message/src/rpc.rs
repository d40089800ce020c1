//! `hubbub.message.v1.MessageService`, the one implementation behind both transports.

use hubbub_proto::group::GetMembershipRequest;
use hubbub_proto::group::ListUserGroupsRequest;
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::message::message_service_server::MessageService;
use hubbub_proto::message::{LastMessagesRequest, LastMessagesResponse, ListMessagesRequest, ListMessagesResponse};
use hubbub_rpc::{Channel, Ctx};
use tonic::{Request, Response, Status};

use crate::store::{MessageStore, Page};
use crate::{Error, MessageSettings, Result};

/// The history side of the message service.
pub struct History<S> {
    pub(crate) settings: MessageSettings,
    pub(crate) store: S,
    pub(crate) groups: GroupServiceClient<Channel>,
}

impl<S: MessageStore> History<S> {
    async fn list(&self, ctx: &Ctx, r: ListMessagesRequest) -> Result<ListMessagesResponse> {
        let caller = ctx.caller()?;
        let page = match (r.before, r.after) {
            (Some(_), Some(_)) => {
                return Err(Error::Invalid("give before or after, not both".into()));
            }
            (Some(b), None) => Page::Before(b),
            (None, Some(a)) => Page::After(a),
            (None, None) => Page::Newest,
        };
        let limit = match r.limit {
            0 => self.settings.history_default_limit,
            n => n.min(self.settings.history_max_limit),
        };
        let membership = self
            .groups
            .clone()
            .get_membership(
                ctx.request(GetMembershipRequest { group_id: r.group_id.clone(), user_id: caller.to_owned() }),
            )
            .await?
            .into_inner();
        if !membership.member {
            return Err(Error::NotAMember);
        }
        let (messages, more) = self.store.list(&r.group_id, page, limit).await?;
        Ok(ListMessagesResponse { messages, more })
    }
}

impl<S: MessageStore> History<S> {
    async fn newest(&self, ctx: &Ctx, r: LastMessagesRequest) -> Result<LastMessagesResponse> {
        let caller = ctx.caller()?;
        let mine = self
            .groups
            .clone()
            .list_user_groups(ctx.request(ListUserGroupsRequest { user_id: caller.to_owned() }))
            .await?
            .into_inner()
            .group_ids;
        // Only the caller's own groups: asking about others reveals nothing.
        let wanted: Vec<String> = r.group_ids.into_iter().filter(|g| mine.contains(g)).take(200).collect();
        Ok(LastMessagesResponse { messages: self.store.heads(&wanted).await? })
    }
}

#[tonic::async_trait]
impl<S: MessageStore> MessageService for History<S> {
    #[tracing::instrument(skip_all, fields(request_id))]
    async fn last_messages(&self, req: Request<LastMessagesRequest>) -> Result<Response<LastMessagesResponse>, Status> {
        let ctx = Ctx::from_request(&req);
        tracing::Span::current().record("request_id", ctx.request_id.as_str());
        Ok(Response::new(self.newest(&ctx, req.into_inner()).await?))
    }

    #[tracing::instrument(skip_all, fields(request_id))]
    async fn list_messages(&self, req: Request<ListMessagesRequest>) -> Result<Response<ListMessagesResponse>, Status> {
        let ctx = Ctx::from_request(&req);
        tracing::Span::current().record("request_id", ctx.request_id.as_str());
        Ok(Response::new(self.list(&ctx, req.into_inner()).await?))
    }
}
