//! Every Socket.IO event the node handles or emits is in the AsyncAPI document
//! (`docs/asyncapi.json`, served by the gateway at `/api/v1/asyncapi.json`), and the document
//! names none the node does not know.

use std::collections::BTreeSet;
use std::path::Path;

/// The string literals passed to `marker` (`.on("` or `.emit("`) in the node's sources.
fn events_in_source(marker: &str) -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let mut sources = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut sources);
    let mut events = BTreeSet::new();
    for text in sources {
        for (i, _) in text.match_indices(marker) {
            let rest = &text[i + marker.len()..];
            if let Some(end) = rest.find('"') {
                events.insert(rest[..end].to_owned());
            }
        }
    }
    events
}

/// The documented event names of one direction (`client_…` or `server_…` message keys).
fn documented(prefix: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/asyncapi.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap_or_else(|e| panic!("{e}"));
    let messages = doc["channels"]["root"]["messages"].as_object().cloned().unwrap_or_default();
    messages
        .iter()
        .filter(|(key, _)| key.starts_with(prefix) && !key.ends_with("_ack"))
        .filter_map(|(_, m)| m["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_event_the_node_handles_is_documented_and_no_other() {
    let handled = events_in_source(".on(\"");
    assert!(handled.contains("chat.message.send"), "{handled:?}");
    assert_eq!(handled, documented("client_"));
}

#[test]
fn every_event_the_node_emits_is_documented_and_no_other() {
    let mut emitted = events_in_source(".emit(\"");
    // Receipts are emitted by name from a table: `("chat.message.delivered", …), ("chat.message.seen", …)`.
    emitted.extend(["chat.message.delivered".to_owned(), "chat.message.seen".to_owned()]);
    assert!(emitted.contains("chat.message.incoming"), "{emitted:?}");
    assert_eq!(emitted, documented("server_"));
}
