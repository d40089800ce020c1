//! Redis-held state shared by every process: token revocations, rate-limit windows and
//! presence. Everything here can be rebuilt or may expire: Redis is never the only copy of
//! anything durable.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

/// Where Redis is and how keys are named.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisSettings {
    /// A redis:// URL.
    pub url: String,
    /// Prepended to every key; tests use a unique one.
    pub key_prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self { url: "redis://127.0.0.1:6379/".into(), key_prefix: "hubbub:".into() }
    }
}

/// A Redis failure.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct Error(#[from] redis::RedisError);

/// `Result` with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a token bucket says to a caller whose session is checked in the same step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A token was taken.
    Admitted,
    /// The user's or the session's tokens were revoked; no token was taken.
    Revoked,
    /// No token left: how long until one is back.
    Limited(Duration),
}

/// A shared, reconnecting connection plus the key prefix.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

impl Redis {
    /// Connects (and reconnects by itself after failures).
    pub async fn connect(settings: &RedisSettings) -> Result<Self> {
        let client = redis::Client::open(settings.url.as_str())?;
        let conn = ConnectionManager::new(client.clone()).await?;
        Ok(Self { client, conn, prefix: settings.key_prefix.clone() })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        k.push_str(&parts.join(":"));
        k
    }

    /// Publishes `payload` on the (prefixed) pub/sub channel `channel`: fire and forget, for
    /// ephemeral news such as typing.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<()> {
        let mut c = self.conn.clone();
        c.publish::<_, _, ()>(self.key(&[channel]), payload).await?;
        Ok(())
    }

    /// Subscribes to the (prefixed) pub/sub channel `channel` on a connection of its own; the
    /// stream ends when that connection breaks (subscribe again).
    pub async fn subscribe(&self, channel: &str) -> Result<impl futures_util::Stream<Item = Vec<u8>> + use<>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.key(&[channel])).await?;
        Ok(futures_util::StreamExt::map(pubsub.into_on_message(), |m| m.get_payload_bytes().to_vec()))
    }

    /// Answers when Redis does.
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut c).await?;
        Ok(())
    }

    // ---- revocation -------------------------------------------------------------------------

    /// From now on, access tokens of session `sid` are refused (for `ttl`, their longest life).
    pub async fn revoke_session(&self, sid: &str, ttl: Duration) -> Result<()> {
        let mut c = self.conn.clone();
        c.set_ex::<_, _, ()>(self.key(&["revoked", "s", sid]), 1, ttl.as_secs().max(1)).await?;
        Ok(())
    }

    /// From now on, every access token of `user_id` is refused (for `ttl`).
    pub async fn revoke_user(&self, user_id: &str, ttl: Duration) -> Result<()> {
        let mut c = self.conn.clone();
        c.set_ex::<_, _, ()>(self.key(&["revoked", "u", user_id]), 1, ttl.as_secs().max(1)).await?;
        Ok(())
    }

    /// Whether tokens of this user or this session were revoked.
    pub async fn is_revoked(&self, user_id: &str, sid: &str) -> Result<bool> {
        let mut c = self.conn.clone();
        let keys = [self.key(&["revoked", "u", user_id]), self.key(&["revoked", "s", sid])];
        let found: Vec<Option<i64>> = c.mget(&keys).await?;
        Ok(found.iter().any(Option::is_some))
    }

    // ---- rate limits ------------------------------------------------------------------------

    /// Takes one token from the bucket `key`, shared by every process: it holds up to
    /// `capacity` tokens and refills at `capacity` per `period`, atomically (one script, the
    /// server's clock). `None` when a token was taken, else how long until one is back.
    pub async fn take_token(&self, key: &[&str], capacity: u32, period: Duration) -> Result<Option<Duration>> {
        Ok(match self.bucket(key, &[], capacity, period).await? {
            Admission::Limited(wait) => Some(wait),
            Admission::Admitted | Admission::Revoked => None,
        })
    }

    /// [`Redis::take_token`] for a caller's session, in the same round trip as
    /// [`Redis::is_revoked`]: a revoked user or session takes no token.
    pub async fn take_token_unless_revoked(
        &self,
        key: &[&str],
        (user_id, sid): (&str, &str),
        capacity: u32,
        period: Duration,
    ) -> Result<Admission> {
        let revoked = [self.key(&["revoked", "u", user_id]), self.key(&["revoked", "s", sid])];
        self.bucket(key, &revoked, capacity, period).await
    }

    /// Takes one of `user_id`'s messages unless the session was revoked: the one bucket that
    /// socket sends (on every chat node) and REST sends (on every gateway) share. As
    /// [`Redis::take_token_unless_revoked`].
    pub async fn take_message_token(
        &self,
        session: (&str, &str),
        capacity: u32,
        period: Duration,
    ) -> Result<Admission> {
        self.take_token_unless_revoked(&["msg", session.0], session, capacity, period).await
    }

    /// The token bucket's script, run by its digest (`EVALSHA`; the script is sent only when
    /// the server does not have it yet), so a call carries its keys and numbers, not the script.
    async fn bucket(&self, key: &[&str], revoked: &[String], capacity: u32, period: Duration) -> Result<Admission> {
        static BUCKET: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"
                for i = 2, #KEYS do
                    if redis.call('EXISTS', KEYS[i]) == 1 then return -1 end
                end
                local cap = tonumber(ARGV[1])
                local period = tonumber(ARGV[2])
                local t = redis.call('TIME')
                local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
                local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
                local tokens = tonumber(state[1]) or cap
                local at = tonumber(state[2]) or now
                tokens = math.min(cap, tokens + math.max(0, now - at) * cap / period)
                local wait = 0
                if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * period / cap) end
                redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
                redis.call('PEXPIRE', KEYS[1], period)
                return wait
            ",
            )
        });
        let mut c = self.conn.clone();
        let mut call = BUCKET.key(self.key(&[&["tb"], key].concat()));
        call.key(revoked).arg(capacity.max(1)).arg(window_ms(period).max(1));
        let wait: i64 = call.invoke_async(&mut c).await?;
        Ok(match u64::try_from(wait) {
            Err(_) => Admission::Revoked,
            Ok(0) => Admission::Admitted,
            Ok(ms) => Admission::Limited(Duration::from_millis(ms)),
        })
    }

    /// Counts one hit in the fixed window `window` of `key` and returns the count so far and the
    /// time until the window resets.
    pub async fn hit(&self, key: &[&str], window: Duration) -> Result<(u64, Duration)> {
        let mut c = self.conn.clone();
        let k = self.key(&[&["rl"], key].concat());
        let (count, ttl): (u64, i64) = redis::pipe()
            .atomic()
            .incr(&k, 1u64)
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(window_ms(window))
            .arg("NX")
            .ignore()
            .pttl(&k)
            .query_async(&mut c)
            .await?;
        Ok((count, Duration::from_millis(u64::try_from(ttl).unwrap_or(0))))
    }

    /// The count in `key`'s current window and the time until it resets (zero when empty).
    pub async fn count(&self, key: &[&str]) -> Result<(u64, Duration)> {
        let mut c = self.conn.clone();
        let k = self.key(&[&["rl"], key].concat());
        let (count, ttl): (Option<u64>, i64) = redis::pipe().get(&k).pttl(&k).query_async(&mut c).await?;
        Ok((count.unwrap_or(0), Duration::from_millis(u64::try_from(ttl).unwrap_or(0))))
    }

    /// Forgets `key`'s window.
    pub async fn reset(&self, key: &[&str]) -> Result<()> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(self.key(&[&["rl"], key].concat())).await?;
        Ok(())
    }

    // ---- presence ---------------------------------------------------------------------------

    /// Records (or renews) a socket's lease; returns whether the user had no live socket before
    /// it, anywhere: they came online. Atomic, so of two sockets connecting at once on two nodes
    /// exactly one sees the user come online.
    pub async fn socket_alive(&self, user_id: &str, socket: &str, now_ms: i64, ttl: Duration) -> Result<bool> {
        let mut c = self.conn.clone();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let k = self.key(&["presence", user_id]);
        let (before,): (u64,) = redis::pipe()
            .atomic()
            .zrembyscore(&k, "-inf", now_ms)
            .ignore()
            .zcard(&k)
            .zadd(&k, socket, now_ms.saturating_add(ttl_ms))
            .ignore()
            .pexpire(&k, ttl_ms)
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(before == 0)
    }

    /// Renews many sockets' leases (`(user, socket)` pairs) in one pipelined round trip.
    pub async fn sockets_alive(&self, sockets: &[(&str, &str)], now_ms: i64, ttl: Duration) -> Result<()> {
        if sockets.is_empty() {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let until = now_ms.saturating_add(ttl_ms);
        let mut pipe = redis::pipe();
        for (user_id, socket) in sockets {
            let k = self.key(&["presence", user_id]);
            pipe.zadd(&k, *socket, until)
                .ignore()
                .zrembyscore(&k, "-inf", now_ms)
                .ignore()
                .pexpire(&k, ttl_ms)
                .ignore();
        }
        pipe.query_async::<()>(&mut c).await?;
        Ok(())
    }

    /// Removes a socket; returns whether the user still has a live socket.
    pub async fn socket_gone(&self, user_id: &str, socket: &str, now_ms: i64) -> Result<bool> {
        let mut c = self.conn.clone();
        let k = self.key(&["presence", user_id]);
        let (live,): (u64,) =
            redis::pipe().zrem(&k, socket).ignore().zcount(&k, now_ms, "+inf").query_async(&mut c).await?;
        Ok(live > 0)
    }

    /// The live sockets of `user_id` on every node, as the nodes name them (`node:socket`),
    /// with the Unix ms their leases run to.
    pub async fn sockets_of(&self, user_id: &str, now_ms: i64) -> Result<Vec<(String, i64)>> {
        let mut c = self.conn.clone();
        let live: Vec<(String, i64)> =
            c.zrangebyscore_withscores(self.key(&["presence", user_id]), now_ms, "+inf").await?;
        Ok(live)
    }

    /// Whether `user_id` has a live socket anywhere.
    pub async fn online(&self, user_id: &str, now_ms: i64) -> Result<bool> {
        let mut c = self.conn.clone();
        let live: u64 = c.zcount(self.key(&["presence", user_id]), now_ms, "+inf").await?;
        Ok(live > 0)
    }
}

/// A chat node as it last reported itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    /// The node's id.
    pub node: String,
    /// Sockets connected to it.
    pub connections: u64,
    /// Unix ms of the report.
    pub at_ms: i64,
}

impl Redis {
    /// A chat node reports itself; the report lapses after `ttl` unless renewed.
    pub async fn node_report(&self, node: &str, connections: u64, now_ms: i64, ttl: Duration) -> Result<()> {
        let mut c = self.conn.clone();
        let until = now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        redis::pipe()
            .zadd(self.key(&["nodes"]), node, until)
            .ignore()
            .set_ex(self.key(&["node", node]), format!("{connections} {now_ms}"), ttl.as_secs().max(1))
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    /// A node that stops on purpose leaves at once.
    pub async fn node_gone(&self, node: &str) -> Result<()> {
        let mut c = self.conn.clone();
        redis::pipe()
            .zrem(self.key(&["nodes"]), node)
            .ignore()
            .del(self.key(&["node", node]))
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    /// The nodes whose reports have not lapsed, by id.
    pub async fn nodes(&self, now_ms: i64) -> Result<Vec<NodeReport>> {
        let mut c = self.conn.clone();
        let names: Vec<String> = c.zrangebyscore(self.key(&["nodes"]), now_ms, "+inf").await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = names.iter().map(|n| self.key(&["node", n])).collect();
        let reports: Vec<Option<String>> = c.mget(&keys).await?;
        let mut out: Vec<NodeReport> = names
            .into_iter()
            .zip(reports)
            .filter_map(|(node, r)| {
                let r = r?;
                let (connections, at) = r.split_once(' ')?;
                Some(NodeReport { node, connections: connections.parse().ok()?, at_ms: at.parse().ok()? })
            })
            .collect();
        out.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(out)
    }
}

fn window_ms(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn redis() -> Redis {
        let settings =
            RedisSettings { key_prefix: format!("t{}:", uuid::Uuid::new_v4().simple()), ..RedisSettings::default() };
        Redis::connect(&settings).await.expect("redis at 127.0.0.1:6379 (scripts/infra.sh up)")
    }

    #[tokio::test]
    async fn a_window_counts_hits_and_resets() {
        let r = redis().await;
        let window = Duration::from_secs(60);
        for n in 1..=3 {
            let (count, left) = r.hit(&["login", "a"], window).await.unwrap();
            assert_eq!(count, n);
            assert!(left > Duration::from_secs(55) && left <= window, "{left:?}");
        }
        assert_eq!(r.count(&["login", "a"]).await.unwrap().0, 3);
        assert_eq!(r.count(&["login", "b"]).await.unwrap().0, 0);
        r.reset(&["login", "a"]).await.unwrap();
        assert_eq!(r.count(&["login", "a"]).await.unwrap().0, 0);
    }

    #[tokio::test]
    async fn a_token_bucket_lets_its_capacity_through_then_says_when_to_retry_and_refills() {
        let r = redis().await;
        let period = Duration::from_millis(500);
        for i in 0..5 {
            assert_eq!(r.take_token(&["u1"], 5, period).await.unwrap(), None, "token {i}");
        }
        let wait = r.take_token(&["u1"], 5, period).await.unwrap().expect("the bucket is empty");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        assert_eq!(r.take_token(&["u2"], 5, period).await.unwrap(), None, "buckets are per key");
        tokio::time::sleep(wait + Duration::from_millis(20)).await;
        assert_eq!(r.take_token(&["u1"], 5, period).await.unwrap(), None, "refilled");
    }

    #[tokio::test]
    async fn a_revoked_session_or_user_is_seen_as_revoked() {
        let r = redis().await;
        assert!(!r.is_revoked("u1", "s1").await.unwrap());
        r.revoke_session("s1", Duration::from_secs(60)).await.unwrap();
        assert!(r.is_revoked("u1", "s1").await.unwrap());
        assert!(!r.is_revoked("u1", "s2").await.unwrap());
        r.revoke_user("u1", Duration::from_secs(60)).await.unwrap();
        assert!(r.is_revoked("u1", "s2").await.unwrap());
        assert!(!r.is_revoked("u2", "s2").await.unwrap());
    }

    #[tokio::test]
    async fn a_message_token_is_taken_only_for_a_session_that_was_not_revoked() {
        let r = redis().await;
        let period = Duration::from_secs(60);
        assert_eq!(r.take_message_token(("u1", "s1"), 2, period).await.unwrap(), Admission::Admitted);
        r.revoke_session("s1", period).await.unwrap();
        assert_eq!(r.take_message_token(("u1", "s1"), 2, period).await.unwrap(), Admission::Revoked);
        // The refusal took no token: the user's other session still has the second one.
        assert_eq!(r.take_message_token(("u1", "s2"), 2, period).await.unwrap(), Admission::Admitted);
        assert!(matches!(r.take_message_token(("u1", "s2"), 2, period).await.unwrap(), Admission::Limited(_)));
        r.revoke_user("u1", period).await.unwrap();
        assert_eq!(r.take_message_token(("u1", "s2"), 2, period).await.unwrap(), Admission::Revoked);
        assert_eq!(r.take_message_token(("u2", "s3"), 2, period).await.unwrap(), Admission::Admitted);
    }

    #[tokio::test]
    async fn nodes_are_listed_while_their_reports_last() {
        let r = redis().await;
        let ttl = Duration::from_secs(30);
        r.node_report("chat-2", 5, 1_000, ttl).await.unwrap();
        r.node_report("chat-1", 7, 1_000, ttl).await.unwrap();
        let nodes = r.nodes(2_000).await.unwrap();
        assert_eq!(
            nodes,
            vec![
                NodeReport { node: "chat-1".into(), connections: 7, at_ms: 1_000 },
                NodeReport { node: "chat-2".into(), connections: 5, at_ms: 1_000 },
            ]
        );
        r.node_gone("chat-1").await.unwrap();
        assert_eq!(r.nodes(2_000).await.unwrap().len(), 1);
        assert!(r.nodes(1_000 + 31_000).await.unwrap().is_empty(), "a lapsed report is not listed");
    }

    #[tokio::test]
    async fn a_user_is_online_while_one_socket_lives() {
        let r = redis().await;
        let ttl = Duration::from_secs(60);
        assert!(r.socket_alive("u", "n1:a", 1_000, ttl).await.unwrap(), "the first socket brings the user online");
        assert!(!r.socket_alive("u", "n2:b", 1_000, ttl).await.unwrap(), "a second one does not");
        assert!(!r.socket_alive("u", "n1:a", 1_500, ttl).await.unwrap(), "nor does a renewal");
        assert!(r.online("u", 2_000).await.unwrap());
        assert!(r.socket_gone("u", "n1:a", 2_000).await.unwrap());
        assert!(!r.socket_gone("u", "n2:b", 2_000).await.unwrap());
        assert!(!r.online("u", 2_000).await.unwrap());
        // A socket whose node died stops counting once its lease ends.
        assert!(r.socket_alive("u", "n3:c", 1_000, ttl).await.unwrap());
        assert!(!r.online("u", 1_000 + 61_000).await.unwrap());
        assert!(r.socket_alive("u", "n4:d", 1_000 + 61_000, ttl).await.unwrap(), "online again after the lapse");
    }
}
