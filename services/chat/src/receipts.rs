//! Receipts: what this node's sockets were handed (delivered) and reported read (seen), folded
//! per (group, user) to the highest seq and sent to the message service as one `Receipts`
//! command per group per flush. A chatty client that reports every message costs one command
//! per group per flush, whatever it sends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubbub_proto::events::{MessageCommand, Receipt, Receipts as ReceiptsCommand, message_command};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::state::Chat;

/// (delivered, seen) per user, per group.
type Marks = HashMap<String, HashMap<Arc<str>, (u64, u64)>>;

/// Receipts noted since the last flush.
#[derive(Default)]
pub struct Receipts {
    pending: Mutex<Marks>,
}

impl Receipts {
    /// `users` were handed message `seq` of `group`.
    pub fn delivered(&self, group: &str, users: impl IntoIterator<Item = Arc<str>>, seq: u64) {
        let Ok(mut p) = self.pending.lock() else { return };
        let marks = p.entry(group.to_owned()).or_default();
        for user in users {
            let m = marks.entry(user).or_default();
            m.0 = m.0.max(seq);
        }
    }

    /// `user` has seen everything of `group` up to `seq`.
    pub fn seen(&self, group: &str, user: Arc<str>, seq: u64) {
        let Ok(mut p) = self.pending.lock() else { return };
        let m = p.entry(group.to_owned()).or_default().entry(user).or_default();
        m.1 = m.1.max(seq);
    }

    fn take(&self) -> Marks {
        self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default()
    }

    /// Puts back what could not be sent, so the next flush tries again.
    fn restore(&self, marks: Marks) {
        let Ok(mut p) = self.pending.lock() else { return };
        for (group, users) in marks {
            let slot = p.entry(group).or_default();
            for (user, (d, s)) in users {
                let m = slot.entry(user).or_default();
                *m = (m.0.max(d), m.1.max(s));
            }
        }
    }
}

/// Sends what was noted every `receipt_flush_ms` until `shutdown`, then once more.
pub async fn run(chat: Chat, shutdown: CancellationToken) {
    let every = Duration::from_millis(chat.settings.receipt_flush_ms.max(1));
    loop {
        let stop = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(every) => false,
        };
        flush(&chat).await;
        if stop {
            return;
        }
    }
}

async fn flush(chat: &Chat) {
    let marks = chat.receipts().take();
    if marks.is_empty() {
        return;
    }
    let payloads: Vec<(String, Vec<u8>)> = marks
        .iter()
        .map(|(group, users)| {
            let receipts = users
                .iter()
                .map(|(user, &(d, s))| Receipt { user_id: user.to_string(), delivered_seq: d, seen_seq: s })
                .collect();
            let command = ReceiptsCommand { group_id: group.clone(), receipts };
            let command = MessageCommand { command: Some(message_command::Command::Receipts(command)) };
            (group.clone(), command.encode_to_vec())
        })
        .collect();
    let records: Vec<(&str, &[u8], Option<&str>)> =
        payloads.iter().map(|(g, p)| (g.as_str(), p.as_slice(), None)).collect();
    let results = chat.producer.send_all(&chat.commands_topic, &records).await;
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        tracing::warn!(error = %e, "sending receipts; keeping them for the next flush");
        let failed: Marks = marks
            .into_iter()
            .zip(results)
            .filter_map(|((group, users), r)| r.is_err().then_some((group, users)))
            .collect();
        chat.receipts().restore(failed);
    }
}
