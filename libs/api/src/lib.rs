//! The public JSON objects of API.md (User, Group, Member, Message, Attachment), built from the
//! proto types, so the gateway and the chat nodes show clients exactly the same shapes.

// The fields are API.md's objects, documented there.
#![allow(missing_docs)]

use hubbub_proto::{group as pg, message as pm, user as pu};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::iso8601::{Config, EncodedConfig, Iso8601, TimePrecision};

const RFC3339_MS: EncodedConfig =
    Config::DEFAULT.set_time_precision(TimePrecision::Second { decimal_digits: std::num::NonZeroU8::new(3) }).encode();

/// Unix epoch milliseconds of `t` (0 before the epoch): the form every hubbub timestamp travels in.
pub fn unix_ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Unix epoch milliseconds now.
pub fn now_ms() -> i64 {
    unix_ms(std::time::SystemTime::now())
}

/// Formats Unix epoch milliseconds as RFC 3339 UTC with milliseconds
/// (`2026-11-21T10:00:00.000Z`).
pub fn timestamp(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Iso8601::<RFC3339_MS>).unwrap_or_default()
}

/// API.md `User`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub last_seen_at: Option<String>,
}

impl From<pu::User> for User {
    fn from(u: pu::User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            avatar_url: u.avatar_url,
            bio: u.bio,
            created_at: timestamp(u.created_at_ms),
            last_seen_at: u.last_seen_at_ms.map(timestamp),
        }
    }
}

/// API.md `Group`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    /// `group`, `direct` (a two-person chat) or `room` (public, joined by anyone).
    #[schema(pattern = "^(group|direct|room)$")]
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[schema(pattern = "^(public|private)$")]
    pub visibility: String,
    pub owner_id: String,
    pub member_count: u32,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(owner|admin|member)$")]
    pub my_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// Messages after the caller's seen watermark (in the caller's group list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<u64>,
}

impl From<pg::Group> for Group {
    fn from(g: pg::Group) -> Self {
        Self {
            kind: match g.kind() {
                pg::GroupKind::Direct => "direct",
                pg::GroupKind::Room => "room",
                pg::GroupKind::Group | pg::GroupKind::Unspecified => "group",
            }
            .into(),
            visibility: match g.visibility() {
                pg::Visibility::Public => "public",
                pg::Visibility::Private | pg::Visibility::Unspecified => "private",
            }
            .into(),
            my_role: role_name(g.my_role()).map(str::to_owned),
            id: g.id,
            name: g.name,
            description: g.description,
            owner_id: g.owner_id,
            member_count: g.member_count,
            created_at: timestamp(g.created_at_ms),
            last_message: None,
            unread_count: None,
        }
    }
}

/// API.md `Member`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user_id: String,
    #[schema(pattern = "^(owner|admin|member)$")]
    pub role: String,
    #[schema(format = DateTime)]
    pub joined_at: String,
}

impl From<pg::Member> for Member {
    fn from(m: pg::Member) -> Self {
        Self {
            role: role_name(m.role()).unwrap_or("member").to_owned(),
            user_id: m.user_id,
            joined_at: timestamp(m.joined_at_ms),
        }
    }
}

/// A role from its API name.
pub fn parse_role(name: &str) -> Option<pg::Role> {
    match name {
        "owner" => Some(pg::Role::Owner),
        "admin" => Some(pg::Role::Admin),
        "member" => Some(pg::Role::Member),
        _ => None,
    }
}

/// The API name of a role (`owner`, `admin`, `member`), none for "unspecified".
pub fn role_name(role: pg::Role) -> Option<&'static str> {
    match role {
        pg::Role::Owner => Some("owner"),
        pg::Role::Admin => Some("admin"),
        pg::Role::Member => Some("member"),
        pg::Role::Unspecified => None,
    }
}

/// API.md `Attachment`. A client sends `{key, name, contentType, size}` (from its upload); the
/// rest is the service's: `url` (a redirect to the bytes, for members), and for images `width`,
/// `height` and, once made, a `thumbnailUrl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub key: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    #[serde(default, skip_deserializing, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_deserializing, skip_serializing_if = "is_zero")]
    pub width: u32,
    #[serde(default, skip_deserializing, skip_serializing_if = "is_zero")]
    pub height: u32,
    #[serde(default, skip_deserializing, skip_serializing_if = "String::is_empty")]
    pub thumbnail_url: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where a member downloads an attachment (or its thumbnail): the gateway redirects there.
pub fn attachment_url(key: &str) -> String {
    format!("/api/v1/attachments/{key}")
}

impl From<pm::Attachment> for Attachment {
    fn from(a: pm::Attachment) -> Self {
        Self {
            url: attachment_url(&a.key),
            thumbnail_url: if a.thumbnail_key.is_empty() { String::new() } else { attachment_url(&a.thumbnail_key) },
            key: a.key,
            name: a.name,
            content_type: a.content_type,
            size: a.size,
            width: a.width,
            height: a.height,
        }
    }
}

/// What a client declares of an attachment; the service measures the rest itself.
impl From<Attachment> for pm::Attachment {
    fn from(a: Attachment) -> Self {
        Self { key: a.key, name: a.name, content_type: a.content_type, size: a.size, ..Default::default() }
    }
}

/// API.md `Message`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub group_id: String,
    /// The message's place in its group: 1, 2, 3, … with no gaps.
    #[schema(minimum = 1)]
    pub seq: u64,
    pub sender_id: String,
    pub content: String,
    #[serde(rename = "type")]
    #[schema(pattern = "^(text|image|file|system)$")]
    pub kind: String,
    pub attachments: Vec<Attachment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub edited_at: Option<String>,
    pub deleted: bool,
}

impl From<pm::Message> for Message {
    fn from(m: pm::Message) -> Self {
        Self {
            id: m.id,
            group_id: m.group_id,
            seq: m.seq,
            sender_id: m.sender_id,
            content: m.content,
            kind: m.r#type,
            attachments: m.attachments.into_iter().map(Into::into).collect(),
            client_msg_id: m.client_msg_id,
            created_at: timestamp(m.created_at_ms),
            edited_at: m.edited_at_ms.map(timestamp),
            deleted: m.deleted,
        }
    }
}

/// Opaque page cursors: the sort key of a page's last item, hex-encoded so clients treat it as
/// a token rather than something to build.
pub mod cursor {
    /// Encodes the parts of a sort key.
    pub fn encode(parts: &[&str]) -> String {
        parts.join("\u{0}").bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Decodes a cursor of exactly `n` parts; `None` for anything else.
    pub fn decode(cursor: &str, n: usize) -> Option<Vec<String>> {
        if !cursor.len().is_multiple_of(2) || cursor.len() > 512 {
            return None;
        }
        let bytes = (0..cursor.len())
            .step_by(2)
            .map(|i| cursor.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()?;
        let text = String::from_utf8(bytes).ok()?;
        let parts: Vec<String> = text.split('\u{0}').map(str::to_owned).collect();
        (parts.len() == n).then_some(parts)
    }
}

/// The message types a client may send.
pub const MESSAGE_TYPES: [&str; 3] = ["text", "image", "file"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let c = cursor::encode(&["1700000000000", "ünï"]);
        assert_eq!(cursor::decode(&c, 2), Some(vec!["1700000000000".to_owned(), "ünï".to_owned()]));
        assert_eq!(cursor::decode(&c, 1), None);
        for bad in ["0", "zz", "ff", &"00".repeat(300)] {
            assert_eq!(cursor::decode(bad, 1), None, "{bad}");
        }
    }

    #[test]
    fn unix_milliseconds_count_from_the_epoch_and_not_before_it() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(unix_ms(UNIX_EPOCH + Duration::from_millis(1500)), 1500);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_763_719_200_123), "2025-11-21T10:00:00.123Z");
    }
}
