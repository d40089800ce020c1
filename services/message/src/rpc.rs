//! `hubbub.message.v1.MessageService`, the one implementation behind both transports.

use std::collections::HashMap;
use std::sync::Arc;

use hubbub_proto::events::{
    DeleteMessage, EditMessage, MessageCommand, PostMessage, Receipt, Receipts, message_command,
};
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::group::{GetMembershipRequest, GetMembershipsRequest, ListUserGroupsRequest, MembershipState};
use hubbub_proto::message::message_service_server::MessageService;
use hubbub_proto::message::{
    AttachmentLink, CreateUploadRequest, DeleteMessageRequest, EditMessageRequest, FindPostedRequest,
    FindPostedResponse, GetAttachmentRequest, LastMessagesRequest, LastMessagesResponse, ListMessagesRequest,
    ListMessagesResponse, MarkReadRequest, MarkReadResponse, Message, PostMessageRequest, PostMessageResponse,
    SyncGroup, SyncRequest, SyncResponse, Upload as SignedUpload,
};
use hubbub_rpc::{Channel, Ctx};
use hubbub_storage::{Disposition, Storage};
use tonic::{Request, Response, Status};

use crate::attachments;
use crate::requests::{Requests, Settled};
use crate::store::{MessageStore, Page, Upload};
use crate::{Error, MessageSettings, Result};

/// The read and request side of the message service.
pub struct History<S> {
    pub(crate) settings: MessageSettings,
    pub(crate) store: S,
    pub(crate) groups: GroupServiceClient<Channel>,
    pub(crate) requests: Arc<Requests>,
    pub(crate) storage: Storage,
}

impl<S: MessageStore> History<S> {
    async fn is_member(&self, ctx: &Ctx, group_id: &str, user: &str) -> Result<bool> {
        let req = GetMembershipRequest { group_id: group_id.to_owned(), user_id: user.to_owned() };
        Ok(self.groups.clone().get_membership(ctx.request(req)).await?.into_inner().member)
    }

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
        if !self.is_member(ctx, &r.group_id, caller).await? {
            return Err(Error::NotAMember);
        }
        let (messages, more) = self.store.list(&r.group_id, page, limit).await?;
        Ok(ListMessagesResponse { messages, more })
    }

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
        let (messages, reads) =
            futures_util::future::try_join(self.store.heads(&wanted), self.store.user_reads(caller, &wanted)).await?;
        Ok(LastMessagesResponse { messages, reads })
    }

    async fn post(&self, ctx: &Ctx, r: PostMessageRequest) -> Result<PostMessageResponse> {
        let caller = ctx.caller()?;
        if r.group_id.is_empty() {
            return Err(Error::Invalid("groupId is required".into()));
        }
        // Without a client id there is nothing to repeat: the post gets one of its own.
        let client_msg_id =
            if r.client_msg_id.is_empty() { uuid::Uuid::new_v4().simple().to_string() } else { r.client_msg_id };
        let key = hubbub_events::post_key(&r.group_id, caller, &client_msg_id);
        let post = PostMessage {
            group_id: r.group_id.clone(),
            sender_id: caller.to_owned(),
            client_msg_id,
            content: r.content,
            r#type: if r.r#type.is_empty() { "text".into() } else { r.r#type },
            attachments: r.attachments,
            origin_node: self.requests.node.clone(),
            requested_at_ms: 0,
            origin_socket: String::new(),
        };
        let command = MessageCommand { command: Some(message_command::Command::Post(post)) };
        match self.requests.ask(&r.group_id, &key, &command, &ctx.request_id).await? {
            Settled::Posted(message, duplicate) => Ok(PostMessageResponse { message: Some(message), duplicate }),
            Settled::Rejected(code, why) => Err(Error::Refused(code, why)),
            Settled::Changed(_) => Err(Error::NotConfirmed),
        }
    }

    /// What the caller stored in a group under a client id. Only the caller's own messages, and
    /// no membership asked: a sender removed since (or past a limit) still learns that its send
    /// was stored, and nobody learns anything about anyone else's.
    async fn find_posted(&self, ctx: &Ctx, r: FindPostedRequest) -> Result<FindPostedResponse> {
        let caller = ctx.caller()?;
        if r.group_id.is_empty() || r.client_msg_id.is_empty() {
            return Err(Error::Invalid("groupId and clientMsgId are required".into()));
        }
        let found = self.store.find_posted(&r.group_id, caller, &r.client_msg_id).await?;
        Ok(FindPostedResponse { message: found.map(|(message, _published)| message) })
    }

    /// An edit (`Some(content)`) or a delete, through the group's partition.
    async fn change(&self, ctx: &Ctx, message_id: String, content: Option<String>) -> Result<Message> {
        let caller = ctx.caller()?;
        let Some(found) = self.store.get(&message_id).await? else { return Err(Error::MessageNotFound) };
        let key = uuid::Uuid::new_v4().simple().to_string();
        let (group_id, actor_id, origin_node) = (found.group_id.clone(), caller.to_owned(), self.requests.node.clone());
        let command = match content {
            Some(content) => message_command::Command::Edit(EditMessage {
                group_id,
                message_id,
                actor_id,
                content,
                origin_node,
                origin_key: key.clone(),
            }),
            None => message_command::Command::Delete(DeleteMessage {
                group_id,
                message_id,
                actor_id,
                origin_node,
                origin_key: key.clone(),
            }),
        };
        let command = MessageCommand { command: Some(command) };
        match self.requests.ask(&found.group_id, &key, &command, &ctx.request_id).await? {
            Settled::Changed(m) => Ok(m),
            Settled::Rejected(code, why) => Err(Error::Refused(code, why)),
            Settled::Posted(..) => Err(Error::NotConfirmed),
        }
    }

    async fn mark_read(&self, ctx: &Ctx, r: MarkReadRequest) -> Result<()> {
        let caller = ctx.caller()?;
        if !self.is_member(ctx, &r.group_id, caller).await? {
            return Err(Error::NotAMember);
        }
        let receipt = Receipt { user_id: caller.to_owned(), delivered_seq: r.seq, seen_seq: r.seq };
        let receipts = Receipts { group_id: r.group_id.clone(), receipts: vec![receipt] };
        let command = MessageCommand { command: Some(message_command::Command::Receipts(receipts)) };
        self.requests.send(&r.group_id, &command, &ctx.request_id).await
    }

    async fn sync(&self, ctx: &Ctx, r: SyncRequest) -> Result<SyncResponse> {
        let caller = ctx.caller()?;
        let s = &self.settings;
        if r.groups.len() > s.sync_groups_max {
            return Err(Error::Invalid(format!("at most {} groups per sync", s.sync_groups_max)));
        }
        let limit = match r.limit {
            0 => s.sync_default_limit,
            n => n.min(s.sync_max_limit),
        };
        let mut budget = usize::try_from(limit).unwrap_or(usize::MAX);
        let ids: Vec<String> = r.groups.iter().map(|c| c.group_id.clone()).collect();
        let req = GetMembershipsRequest { user_id: caller.to_owned(), group_ids: ids.clone() };
        let standing = self.groups.clone().get_memberships(ctx.request(req)).await?.into_inner().groups;
        let state: HashMap<&str, MembershipState> = standing.iter().map(|g| (g.group_id.as_str(), g.state())).collect();
        let mine: Vec<String> =
            ids.iter().filter(|g| state.get(g.as_str()) == Some(&MembershipState::Member)).cloned().collect();
        let (heads, reads) =
            futures_util::future::try_join(self.store.heads(&mine), self.store.user_reads(caller, &mine)).await?;
        let heads: HashMap<&str, u64> = heads.iter().map(|m| (m.group_id.as_str(), m.seq)).collect();
        let reads: HashMap<&str, u64> = reads.iter().map(|r| (r.group_id.as_str(), r.seen_seq)).collect();

        // A first look at every group at once, a few messages each; then, in request order,
        // each group gets what the budget allows (read further only where the look fell short).
        let probe = u32::try_from(budget.min(20)).unwrap_or(20);
        let standing = &state;
        let looks = futures_util::future::try_join_all(r.groups.iter().map(|c| async move {
            if standing.get(c.group_id.as_str()) != Some(&MembershipState::Member) {
                return Ok::<_, Error>((vec![], vec![], false));
            }
            let (news, more) = self.store.list(&c.group_id, Page::After(c.after_seq), probe).await?;
            // Edits and deletes of messages the client already had, made while it was away.
            let changed =
                if c.after_seq > 0 { self.store.changed_since(&c.group_id, c.after_seq, limit).await? } else { vec![] };
            Ok((changed, news, more))
        }))
        .await?;
        let mut groups = Vec::with_capacity(r.groups.len());
        let mut messages = Vec::new();
        let mut more = false;
        for (cursor, (changed, mut news, mut beyond)) in r.groups.iter().zip(looks) {
            let g = cursor.group_id.as_str();
            let status = match state.get(g) {
                Some(MembershipState::Member) => "ok",
                Some(MembershipState::Former) => "gone",
                _ => "unknown",
            };
            let mut head = heads.get(g).copied().unwrap_or(0);
            if status == "ok" {
                if beyond && news.len() < budget {
                    let from = news.last().map_or(cursor.after_seq, |m| m.seq);
                    let want = u32::try_from(budget - news.len()).unwrap_or(u32::MAX);
                    let (rest, further) = self.store.list(g, Page::After(from), want).await?;
                    news.extend(rest);
                    beyond = further;
                }
                // The head counts what was read, even where the budget cuts the answer short.
                head = head.max(news.last().map_or(0, |m| m.seq));
                if news.len() > budget {
                    news.truncate(budget);
                    beyond = true;
                }
                budget -= news.len();
                more |= beyond;
                messages.extend(changed);
                messages.extend(news);
            }
            groups.push(SyncGroup {
                group_id: cursor.group_id.clone(),
                status: status.into(),
                head_seq: if status == "ok" { head } else { 0 },
                read_seq: reads.get(g).copied().unwrap_or(0),
            });
        }
        Ok(SyncResponse { groups, messages, more })
    }
}

impl<S: MessageStore> History<S> {
    /// Records an upload and signs its PUT: type, exact size and "create only" are signed, so
    /// storage itself refuses anything else.
    async fn create_upload(&self, ctx: &Ctx, r: CreateUploadRequest) -> Result<SignedUpload> {
        let caller = ctx.caller()?;
        let s = &self.settings;
        if !attachments::group_id_ok(&r.group_id) {
            return Err(Error::UploadRefused("VALIDATION_ERROR", "groupId is required".into()));
        }
        if !attachments::name_ok(&r.name, s.upload_name_max) {
            let why = format!("name must be 1–{} characters, without a path or control characters", s.upload_name_max);
            return Err(Error::UploadRefused("VALIDATION_ERROR", why));
        }
        let content_type = attachments::normalize_type(&r.content_type);
        if !s.upload_allowed(&content_type) {
            return Err(Error::UploadRefused(
                "VALIDATION_ERROR",
                format!("contentType {content_type:?} is not allowed"),
            ));
        }
        if r.size == 0 || r.size > s.upload_max_bytes {
            let why = format!("an attachment must be 1–{} bytes", s.upload_max_bytes);
            return Err(Error::UploadRefused("FILE_TOO_LARGE", why));
        }
        if !self.is_member(ctx, &r.group_id, caller).await? {
            return Err(Error::NotAMember);
        }
        let key = attachments::new_key(&r.group_id);
        let disposition = Disposition { name: r.name.clone(), inline: s.shown_inline(&content_type) };
        let signed = self.storage.presign_put(&key, &content_type, r.size, Some(&disposition)).await?;
        self.store
            .create_upload(&Upload {
                key: key.clone(),
                group_id: r.group_id,
                uploader_id: caller.to_owned(),
                name: r.name,
                content_type,
                size: r.size,
                created_at_ms: mongodb::bson::DateTime::now().timestamp_millis(),
                message_id: None,
                thumbnail_key: None,
            })
            .await?;
        Ok(SignedUpload {
            key,
            url: signed.url,
            method: signed.method,
            headers: signed.headers.into_iter().collect(),
            expires_at_ms: hubbub_api::unix_ms(signed.expires_at),
        })
    }

    /// A download URL, for current members of the attachment's group (and, before it is
    /// attached, its uploader). Everyone else hears of no such key, whether it exists or not.
    async fn get_attachment(&self, ctx: &Ctx, r: GetAttachmentRequest) -> Result<AttachmentLink> {
        let caller = ctx.caller()?;
        let Some(base) = attachments::upload_of(&r.key) else { return Err(Error::AttachmentNotFound) };
        let Some(upload) = self.store.uploads(&[base.to_owned()]).await?.pop() else {
            return Err(Error::AttachmentNotFound);
        };
        let preview = base != r.key;
        if preview && upload.thumbnail_key.as_deref() != Some(r.key.as_str()) {
            return Err(Error::AttachmentNotFound);
        }
        let allowed = (upload.message_id.is_some() || upload.uploader_id == caller)
            && self.is_member(ctx, &upload.group_id, caller).await?;
        if !allowed {
            return Err(Error::AttachmentNotFound);
        }
        let disposition = if preview {
            Disposition { name: format!("{}.jpg", upload.name), inline: true }
        } else {
            Disposition { name: upload.name.clone(), inline: self.settings.shown_inline(&upload.content_type) }
        };
        let signed = self.storage.presign_get(&r.key, Some(&disposition)).await?;
        Ok(AttachmentLink { url: signed.url })
    }
}

/// Runs `f` with the request's context (the span with its request id is the RPC server's).
macro_rules! serve {
    ($req:ident, |$ctx:ident, $body:ident| $f:expr) => {{
        let $ctx = Ctx::from_request(&$req);
        let $body = $req.into_inner();
        let out: Result<_> = $f.await;
        Ok(Response::new(out?))
    }};
}

#[tonic::async_trait]
impl<S: MessageStore> MessageService for History<S> {
    async fn last_messages(&self, req: Request<LastMessagesRequest>) -> Result<Response<LastMessagesResponse>, Status> {
        serve!(req, |ctx, r| self.newest(&ctx, r))
    }

    async fn list_messages(&self, req: Request<ListMessagesRequest>) -> Result<Response<ListMessagesResponse>, Status> {
        serve!(req, |ctx, r| self.list(&ctx, r))
    }

    async fn post_message(&self, req: Request<PostMessageRequest>) -> Result<Response<PostMessageResponse>, Status> {
        serve!(req, |ctx, r| self.post(&ctx, r))
    }

    async fn find_posted(&self, req: Request<FindPostedRequest>) -> Result<Response<FindPostedResponse>, Status> {
        serve!(req, |ctx, r| self.find_posted(&ctx, r))
    }

    async fn edit_message(&self, req: Request<EditMessageRequest>) -> Result<Response<Message>, Status> {
        serve!(req, |ctx, r| self.change(&ctx, r.message_id, Some(r.content)))
    }

    async fn delete_message(&self, req: Request<DeleteMessageRequest>) -> Result<Response<Message>, Status> {
        serve!(req, |ctx, r| self.change(&ctx, r.message_id, None))
    }

    async fn mark_read(&self, req: Request<MarkReadRequest>) -> Result<Response<MarkReadResponse>, Status> {
        serve!(req, |ctx, r| async { self.mark_read(&ctx, r).await.map(|()| MarkReadResponse {}) })
    }

    async fn sync(&self, req: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        serve!(req, |ctx, r| self.sync(&ctx, r))
    }

    async fn create_upload(&self, req: Request<CreateUploadRequest>) -> Result<Response<SignedUpload>, Status> {
        serve!(req, |ctx, r| self.create_upload(&ctx, r))
    }

    async fn get_attachment(&self, req: Request<GetAttachmentRequest>) -> Result<Response<AttachmentLink>, Status> {
        serve!(req, |ctx, r| self.get_attachment(&ctx, r))
    }
}
