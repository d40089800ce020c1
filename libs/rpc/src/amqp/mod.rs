//! gRPC over RabbitMQ: the client side (a channel for generated tonic clients) and the server
//! side (tonic routes fed from a queue). Both sides share the wire format below.
//!
//! Request: body = the gRPC-framed request body; headers `h:<name>` = the HTTP/2 headers
//! (metadata included), `x-rpc-path` = `/package.Service/Method`, `x-rpc-deadline-ms` = the
//! absolute deadline (Unix ms); properties `reply_to`, `correlation_id`, and `expiration` = the
//! time left, so a request nobody takes before its deadline is dropped by the broker.
//! Reply: body = the gRPC-framed response body; headers `h:<name>` = response headers and
//! `t:<name>` = trailers (where `grpc-status` lives).

mod client;
mod server;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

pub use client::{Client, ClientChannel};
pub use server::serve_queue;

pub(crate) const PATH: &str = "x-rpc-path";
pub(crate) const DEADLINE: &str = "x-rpc-deadline-ms";
const HEADER_PREFIX: &str = "h:";
const TRAILER_PREFIX: &str = "t:";

/// The queue of a service (`NamedService::NAME`, e.g. `hubbub.auth.v1.AuthService`).
pub fn queue_name(prefix: &str, service: &str) -> String {
    format!("{prefix}rpc.{service}")
}

/// Declares a service queue. Client and server declare it identically (a mismatch in arguments
/// would close the channel), so whichever comes first creates it and requests can wait there.
pub(crate) async fn declare_queue(channel: &lapin::Channel, queue: &str) -> lapin::Result<()> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() },
            FieldTable::default(),
        )
        .await
        .map(|_| ())
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Copies HTTP headers into an AMQP table under `prefix`.
fn put_headers(table: &mut FieldTable, prefix: &str, headers: &HeaderMap) {
    for (name, value) in headers {
        // Connection-level headers mean nothing on a queue.
        if name == http::header::TE || name == http::header::CONTENT_LENGTH {
            continue;
        }
        table.insert(
            ShortString::from(format!("{prefix}{name}")),
            AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
        );
    }
}

/// Reads back the headers stored under `prefix`; entries that are not valid headers are skipped.
fn take_headers(table: &FieldTable, prefix: &str) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in table.inner() {
        let Some(name) = k.as_str().strip_prefix(prefix) else {
            continue;
        };
        let AMQPValue::LongString(v) = v else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(v.as_bytes()))
        {
            out.append(name, value);
        }
    }
    out
}

fn get_str<'a>(table: &'a FieldTable, key: &str) -> Option<&'a [u8]> {
    match table.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.as_bytes()),
        AMQPValue::ShortString(s) => Some(s.as_str().as_bytes()),
        _ => None,
    }
}

fn get_i64(table: &FieldTable, key: &str) -> Option<i64> {
    match table.inner().get(key)? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

/// Parses a `grpc-timeout` header value (`<1-8 digits><H|M|S|m|u|n>`).
pub(crate) fn parse_grpc_timeout(v: &[u8]) -> Option<Duration> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b"H" => Duration::from_secs(n * 3600),
        b"M" => Duration::from_secs(n * 60),
        b"S" => Duration::from_secs(n),
        b"m" => Duration::from_millis(n),
        b"u" => Duration::from_micros(n),
        b"n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit_and_garbage_does_not() {
        assert_eq!(parse_grpc_timeout(b"5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout(b"250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout(b"7u"), Some(Duration::from_micros(7)));
        for bad in [&b""[..], b"S", b"123456789S", b"5x", b"-5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn headers_survive_a_trip_through_an_amqp_table() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc"));
        h.insert("te", HeaderValue::from_static("trailers"));
        let mut t = FieldTable::default();
        put_headers(&mut t, HEADER_PREFIX, &h);
        let back = take_headers(&t, HEADER_PREFIX);
        assert_eq!(back.get("x-request-id").map(|v| v.as_bytes()), Some(&b"abc"[..]));
        assert!(back.get("te").is_none());
        assert!(take_headers(&t, TRAILER_PREFIX).is_empty());
    }
}
