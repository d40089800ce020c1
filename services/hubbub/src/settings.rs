//! Every section of the settings, composed from the crates that own them.

use serde::{Deserialize, Serialize};

/// All settings of a hubbub process (each service reads its sections).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// `[rpc]`: the broker and every service's endpoint and transport.
    pub rpc: hubbub_rpc::RpcSettings,
    /// `[kafka]`.
    pub kafka: hubbub_events::KafkaSettings,
    /// `[mongo]`.
    pub mongo: hubbub_mongo::MongoSettings,
    /// `[redis]`.
    pub redis: hubbub_redis::RedisSettings,
    /// `[storage]`: S3-compatible object storage.
    pub storage: hubbub_storage::StorageSettings,
    /// `[token]`: access token signing.
    pub token: hubbub_token::TokenSettings,
    /// `[auth]`.
    pub auth: hubbub_auth::AuthSettings,
    /// `[user]`.
    pub user: hubbub_user::UserSettings,
    /// `[group]`.
    pub group: hubbub_group::GroupSettings,
    /// `[message]`.
    pub message: hubbub_message::MessageSettings,
    /// `[gateway]`.
    pub gateway: hubbub_gateway::GatewaySettings,
    /// `[chat]`.
    pub chat: hubbub_chat::ChatSettings,
    /// `[ops]`: `/health`, `/ready` and `/metrics` on a port of their own.
    pub ops: hubbub_ops::OpsSettings,
}
