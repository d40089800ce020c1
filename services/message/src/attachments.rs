//! Attachments: uploads straight to object storage, checked when a message is written, measured
//! and previewed when they are images, and swept when nothing holds them.
//!
//! A member asks for an upload (`CreateUpload`): the service records it and signs a PUT that
//! pins the content type, the exact length and "create only" (so the bytes cannot change after
//! a message was checked against them). A post naming attachments is accepted only when each
//! is the sender's own upload to that group, not attached elsewhere, stored, and as declared
//! (type and size, read back from storage, never taken from the client); an image must also
//! decode as its type within `image_max_pixels`, and gets its width and height. Previews are
//! made later, by whichever replica claims them, and reach the message as a command in its
//! group's order. Deleted messages' uploads, uploads never attached and deleted accounts'
//! avatars are removed by a sweep.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join_all, try_join, try_join_all};
use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::Message as _;
use hubbub_events::{Backoff, Producer};
use hubbub_proto::events::{AttachThumbnail, AuthEvent, MessageCommand, PostMessage, auth_event, message_command};
use hubbub_proto::message::Attachment;
use hubbub_storage::Storage;
use image::ImageFormat;
use prost::Message as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{MessageStore, Upload};
use crate::{MessageSettings, Result};

/// Where a group's attachments live in the bucket.
const PREFIX: &str = "att/";
/// What a preview's key adds to its attachment's.
const THUMB_SUFFIX: &str = ".thumb.jpg";
/// How long a replica may take to make one preview before another one may.
const THUMB_LEASE_MS: i64 = 60_000;
/// Uploads looked at per sweep round.
const SWEEP_PAGE: u32 = 200;
/// An upload is refused by a post this long (at most; a tenth of the orphan age at least) before
/// it would be swept as an orphan, so a sweep never removes what a message being written is
/// about to hold.
const ORPHAN_MARGIN_MS: i64 = 60_000;

/// A new upload key in a group: unguessable, and scoped to the group by its prefix.
pub(crate) fn new_key(group_id: &str) -> String {
    format!("{PREFIX}{group_id}/{}", uuid::Uuid::new_v4().simple())
}

/// The preview key of an attachment key.
pub(crate) fn thumbnail_key(key: &str) -> String {
    format!("{key}{THUMB_SUFFIX}")
}

/// The attachment a key names (itself, or the one whose preview it is), if it has the shape of
/// one of ours at all.
pub(crate) fn upload_of(key: &str) -> Option<&str> {
    let base = key.strip_suffix(THUMB_SUFFIX).unwrap_or(key);
    let (group, random) = base.strip_prefix(PREFIX)?.split_once('/')?;
    (group_id_ok(group) && random.len() == 32 && segment_ok(random, 32)).then_some(base)
}

/// Whether a group id can stand in a key: 1–64 letters, digits, `-` or `_`.
pub(crate) fn group_id_ok(group_id: &str) -> bool {
    segment_ok(group_id, 64)
}

fn segment_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A content type as compared: lower case, without parameters.
pub(crate) fn normalize_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The image formats the service measures and previews.
pub(crate) fn image_format(content_type: &str) -> Option<ImageFormat> {
    match content_type {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

/// Whether a file name may be kept: 1–`max` characters, no control characters, no path.
pub(crate) fn name_ok(name: &str, max: usize) -> bool {
    let chars = name.chars().count();
    chars > 0 && chars <= max && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\')
}

/// An image's width and height from its first bytes, if they are an image of `format` within
/// `max_pixels`.
pub(crate) fn measure(bytes: &[u8], format: ImageFormat, max_pixels: u64) -> std::result::Result<(u32, u32), String> {
    let name = format.extensions_str().first().copied().unwrap_or("image").to_ascii_uppercase();
    if image::guess_format(bytes).ok() != Some(format) {
        return Err(format!("is not a {name} image"));
    }
    // Reading the header allocates nothing of the image: the bound is ours, below.
    let mut reader = image::io::Reader::with_format(Cursor::new(bytes), format);
    reader.no_limits();
    let (w, h) = reader.into_dimensions().map_err(|_| format!("is not a readable {name} image"))?;
    if w == 0 || h == 0 {
        return Err("has no pixels".into());
    }
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(format!("is {w}×{h}, over the bound of {max_pixels} pixels (send it as a file)"));
    }
    Ok((w, h))
}

/// A JPEG preview of an image, its longest side at most `max_side`. Decoding is bounded by
/// `max_pixels` (a decompression bomb is refused, never decoded).
pub(crate) fn preview(
    bytes: &[u8],
    format: ImageFormat,
    max_pixels: u64,
    max_side: u32,
) -> std::result::Result<Vec<u8>, String> {
    measure(bytes, format, max_pixels)?;
    let mut reader = image::io::Reader::with_format(Cursor::new(bytes), format);
    let mut limits = image::io::Limits::default();
    let side = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| format!("decoding: {e}"))?;
    let small = decoded.thumbnail(max_side, max_side).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .map_err(|e| format!("encoding: {e}"))?;
    Ok(out)
}

/// What a post's attachments came to: as stored (measured), or why not.
pub(crate) type Verdict = std::result::Result<Vec<Attachment>, String>;

/// Checks the attachments of every post, in order (an upload claimed by an earlier post of the
/// batch is taken for the later ones). Errors are the store's or storage's: try again.
pub(crate) async fn check<'a, S: MessageStore>(
    store: &S,
    storage: &Storage,
    settings: &MessageSettings,
    posts: &[&'a PostMessage],
) -> Result<Vec<Verdict>> {
    let mut keys: Vec<String> = posts.iter().flat_map(|p| p.attachments.iter().map(|a| a.key.clone())).collect();
    keys.sort();
    keys.dedup();
    let (uploads, taken) = try_join(store.uploads(&keys), store.keys_in_messages(&keys)).await?;
    let uploads: HashMap<&str, &Upload> = uploads.iter().map(|u| (u.key.as_str(), u)).collect();
    let taken: HashSet<&str> = taken.iter().map(|(k, _)| k.as_str()).collect();
    // Storage is asked only about keys that are somebody's upload at all.
    let known: Vec<&str> = keys.iter().map(String::as_str).filter(|k| uploads.contains_key(k)).collect();
    let heads = try_join_all(known.iter().map(|k| storage.head(k))).await?;
    let heads: HashMap<&str, Option<hubbub_storage::Object>> = known.iter().copied().zip(heads).collect();
    let in_image_posts: HashSet<&str> = posts
        .iter()
        .filter(|p| p.r#type == "image")
        .flat_map(|p| p.attachments.iter().map(|a| a.key.as_str()))
        .collect();
    let images: Vec<&str> = known
        .iter()
        .copied()
        .filter(|k| in_image_posts.contains(k))
        .filter(|k| uploads.get(k).is_some_and(|u| image_format(&u.content_type).is_some()))
        .filter(|k| heads.get(k).is_some_and(Option::is_some))
        .collect();
    let probes = try_join_all(images.iter().map(|k| storage.read(k, settings.image_probe_bytes))).await?;
    let probes: HashMap<&str, Vec<u8>> =
        images.iter().copied().zip(probes).filter_map(|(k, bytes)| Some((k, bytes?))).collect();

    let now_ms = mongodb::bson::DateTime::now().timestamp_millis();
    let orphan_ms = settings.upload_orphan_ms();
    let expiry_ms = orphan_ms - ORPHAN_MARGIN_MS.min(orphan_ms / 10);
    // Keys claimed by earlier posts of the batch, and by which post (sender, client id): a repeat
    // of that very post in the same batch is not refused for it (it becomes its first copy).
    let mut claimed: HashMap<&str, (&str, &str)> = HashMap::new();
    let mut verdicts = Vec::with_capacity(posts.len());
    for post in posts {
        let this = (post.sender_id.as_str(), post.client_msg_id.as_str());
        let mut mine: Vec<&str> = Vec::new();
        let mut one = |a: &'a hubbub_proto::message::Attachment| -> std::result::Result<Attachment, String> {
            let upload = uploads
                .get(a.key.as_str())
                .filter(|u| u.group_id == post.group_id && u.uploader_id == post.sender_id)
                .filter(|_| upload_of(&a.key) == Some(a.key.as_str()))
                .ok_or("is not an upload of yours to this group")?;
            if a.name != upload.name || normalize_type(&a.content_type) != upload.content_type || a.size != upload.size
            {
                return Err("does not match its upload (name, contentType and size)".into());
            }
            let claimed_by = claimed.get(a.key.as_str()).copied();
            if taken.contains(a.key.as_str())
                || claimed_by.is_some_and(|other| other != this)
                || mine.contains(&a.key.as_str())
            {
                return Err("is attached to a message already: upload it again".into());
            }
            if claimed_by.is_none() {
                claimed.insert(a.key.as_str(), this);
                mine.push(a.key.as_str());
            }
            if now_ms - upload.created_at_ms > expiry_ms {
                return Err("was uploaded too long ago: upload it again".into());
            }
            let Some(Some(object)) = heads.get(a.key.as_str()) else {
                return Err("is not uploaded yet".into());
            };
            let stored_type = object.content_type.as_deref().map(normalize_type).unwrap_or_default();
            if object.size != upload.size || stored_type != upload.content_type {
                return Err("in storage does not match its upload".into());
            }
            let mut stored = Attachment {
                key: upload.key.clone(),
                name: upload.name.clone(),
                content_type: upload.content_type.clone(),
                size: upload.size,
                ..Default::default()
            };
            // An image message's images are measured (and refused beyond the bound); a file is
            // only a file.
            if let Some(format) = image_format(&upload.content_type).filter(|_| post.r#type == "image") {
                let bytes = probes.get(a.key.as_str()).map(Vec::as_slice).unwrap_or_default();
                (stored.width, stored.height) = measure(bytes, format, settings.image_max_pixels)?;
            }
            Ok(stored)
        };
        let verdict: Verdict = post
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| one(a).map_err(|why| format!("attachment {} {why}", i + 1)))
            .collect();
        if verdict.is_err() {
            // What this post claimed is free again for the posts after it.
            for k in mine {
                claimed.remove(k);
            }
        }
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// The background work of attachments on one replica: previews, the sweep, and deleted
/// accounts' avatars.
pub(crate) struct Janitor<S> {
    pub(crate) store: S,
    pub(crate) storage: Storage,
    pub(crate) settings: MessageSettings,
    pub(crate) producer: Producer,
    /// Full name of the commands topic (previews reach their message through it).
    pub(crate) commands_topic: String,
    /// Rung when an image was attached.
    pub(crate) previews_wanted: Arc<Notify>,
    /// Rung when uploads were discarded.
    pub(crate) sweep_wanted: Arc<Notify>,
}

impl<S: MessageStore + Clone> Janitor<S> {
    /// Makes previews until `shutdown`: claims an image that wants one, makes it, stores it and
    /// sends it to the message's group.
    pub(crate) async fn previews(self: Arc<Self>, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.thumbnail_poll_ms.max(100));
        loop {
            let claimed = match self.store.claim_thumbnail(THUMB_LEASE_MS).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for images that want a preview");
                    None
                }
            };
            match claimed {
                Some(upload) => {
                    if let Err(e) = self.preview(&upload).await {
                        // Left claimed: another try after the lease.
                        tracing::warn!(error = %e, key = %upload.key, "making a preview; trying again later");
                    }
                }
                None => {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = self.previews_wanted.notified() => {}
                        () = tokio::time::sleep(poll) => {}
                    }
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }

    async fn preview(&self, upload: &Upload) -> Result<()> {
        let Some(jpeg) = self.make_preview(upload).await? else {
            self.store.thumbnail_made(&upload.key, None).await?;
            return Ok(());
        };
        let thumb = thumbnail_key(&upload.key);
        self.storage.write(&thumb, "image/jpeg", jpeg).await?;
        if let Some(message_id) = &upload.message_id {
            let command = MessageCommand {
                command: Some(message_command::Command::Thumbnail(AttachThumbnail {
                    group_id: upload.group_id.clone(),
                    message_id: message_id.clone(),
                    key: upload.key.clone(),
                    thumbnail_key: thumb.clone(),
                })),
            };
            self.producer
                .send(&self.commands_topic, &upload.group_id, &command.encode_to_vec(), None)
                .await
                .map_err(|e| crate::Error::Unavailable(e.to_string()))?;
        }
        if !self.store.thumbnail_made(&upload.key, Some(&thumb)).await? {
            // Its message was deleted meanwhile: the preview goes too.
            self.storage.remove(&thumb).await?;
        }
        Ok(())
    }

    /// The JPEG preview of an upload; `None` when it is no image we preview, gone, or refused
    /// by the decoder's bounds.
    async fn make_preview(&self, upload: &Upload) -> Result<Option<Vec<u8>>> {
        let Some(format) = image_format(&upload.content_type) else { return Ok(None) };
        let Some(bytes) = self.storage.read(&upload.key, self.settings.upload_max_bytes).await? else {
            return Ok(None);
        };
        let (max_pixels, max_side) = (self.settings.image_max_pixels, self.settings.thumbnail_max_side);
        let made = tokio::task::spawn_blocking(move || preview(&bytes, format, max_pixels, max_side))
            .await
            .unwrap_or_else(|e| Err(format!("the decoder failed: {e}")));
        Ok(made.inspect_err(|why| tracing::info!(key = %upload.key, %why, "no preview for this image")).ok())
    }

    /// Sweeps until `shutdown`: every `upload_sweep_secs`, or at once when told of discards.
    pub(crate) async fn sweep(self: Arc<Self>, shutdown: CancellationToken) {
        let every = Duration::from_secs(self.settings.upload_sweep_secs.max(1));
        loop {
            if let Err(e) = self.sweep_once().await {
                tracing::warn!(error = %e, "sweeping uploads; trying again later");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.sweep_wanted.notified() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// One round: removes discarded uploads and orphans (adopting any that a message holds
    /// after all, as after a crash between storing the message and recording the attach).
    pub(crate) async fn sweep_once(&self) -> Result<(usize, usize)> {
        let mut removed = (0, 0);
        loop {
            let discarded = self.store.discarded_uploads(SWEEP_PAGE).await?;
            for u in &discarded {
                self.remove(u).await?;
            }
            removed.0 += discarded.len();
            if discarded.len() < SWEEP_PAGE as usize {
                break;
            }
        }
        let before = mongodb::bson::DateTime::now().timestamp_millis().saturating_sub(self.settings.upload_orphan_ms());
        loop {
            let stale = self.store.stale_uploads(before, SWEEP_PAGE).await?;
            let keys: Vec<String> = stale.iter().map(|u| u.key.clone()).collect();
            let held: HashMap<String, String> = self.store.keys_in_messages(&keys).await?.into_iter().collect();
            for u in &stale {
                match held.get(&u.key) {
                    Some(message_id) => {
                        let image: Vec<String> =
                            image_format(&u.content_type).map(|_| u.key.clone()).into_iter().collect();
                        self.store.attach_uploads(message_id, std::slice::from_ref(&u.key), &image).await?;
                    }
                    None => {
                        self.remove(u).await?;
                        removed.1 += 1;
                    }
                }
            }
            if stale.len() < SWEEP_PAGE as usize {
                break;
            }
        }
        if removed != (0, 0) {
            tracing::info!(discarded = removed.0, orphans = removed.1, "uploads swept");
        }
        Ok(removed)
    }

    async fn remove(&self, u: &Upload) -> Result<()> {
        let thumb = u.thumbnail_key.clone().unwrap_or_else(|| thumbnail_key(&u.key));
        for done in join_all([self.storage.remove(&u.key), self.storage.remove(&thumb)]).await {
            done?;
        }
        self.store.forget_upload(&u.key).await
    }

    /// Removes deleted accounts' avatars until `shutdown`: every replica follows `auth.events`
    /// from the end and removes the prefix (twice is harmless). An account deleted while no
    /// replica runs keeps its avatar objects.
    pub(crate) async fn accounts(self: Arc<Self>, consumer: EventConsumer, shutdown: CancellationToken) {
        while let Some(record) = hubbub_events::next(&consumer, &shutdown, "auth events").await {
            if let Ok(AuthEvent { user_id, event: Some(auth_event::Event::AccountDeleted(_)), .. }) =
                AuthEvent::decode(record.payload().unwrap_or_default())
                && !user_id.is_empty()
            {
                let mut backoff = Backoff::default();
                loop {
                    match self.storage.remove_prefix(&format!("avatars/{user_id}/")).await {
                        Ok(n) => {
                            tracing::info!(%user_id, removed = n, "a deleted account's avatars removed");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, %user_id, "removing a deleted account's avatars; retrying");
                            if !backoff.wait(&shutdown).await {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 30, 30]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn an_image_is_measured_from_its_first_bytes_and_previewed_within_the_bound() {
        let bytes = png(640, 480);
        assert_eq!(measure(&bytes, ImageFormat::Png, 1_000_000), Ok((640, 480)));
        let jpeg = preview(&bytes, ImageFormat::Png, 1_000_000, 320).unwrap();
        let small = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg).unwrap();
        assert_eq!((small.width(), small.height()), (320, 240));
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_it_is_decoded() {
        // 30,000 × 30,000 of one colour compresses to a few kilobytes and would need 2.7 GB.
        let header = png_header(30_000, 30_000);
        let why = measure(&header, ImageFormat::Png, 40_000_000).unwrap_err();
        assert!(why.contains("30000×30000"), "{why}");
        assert!(preview(&header, ImageFormat::Png, 40_000_000, 320).is_err());
    }

    /// A PNG claiming `w` × `h` whose data is a few bytes (a reader needs only the header).
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut header = w.to_be_bytes().to_vec();
        header.extend_from_slice(&h.to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        // An empty zlib stream: decoding it would fail long before 2.7 GB were written.
        for (kind, data) in [(b"IHDR", header), (b"IDAT", vec![0x78, 0x9c, 0x03, 0, 0, 0, 0, 1]), (b"IEND", vec![])] {
            let mut body = kind.to_vec();
            body.extend_from_slice(&data);
            out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
        }
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn bytes_that_are_not_the_declared_image_are_refused() {
        assert!(measure(b"<svg xmlns='http://www.w3.org/2000/svg'/>", ImageFormat::Png, 1_000_000).is_err());
        assert!(measure(&png(4, 4), ImageFormat::Jpeg, 1_000_000).is_err());
    }

    #[test]
    fn only_keys_of_our_shape_name_an_upload() {
        let key = new_key("g1");
        assert_eq!(upload_of(&key), Some(key.as_str()));
        assert_eq!(upload_of(&thumbnail_key(&key)), Some(key.as_str()));
        for bad in ["avatars/u/x.png", "att/g1/short", "att/../x/0123456789abcdef0123456789abcdef", "att/g1"] {
            assert_eq!(upload_of(bad), None, "{bad}");
        }
    }
}
