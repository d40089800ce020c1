//! Generated protobuf and gRPC code for hubbub's service contracts and Kafka events. Nothing else
//! lives here: conversions to domain types sit next to each domain.
#![allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used)]

/// The packages, nested as the generated code refers to each other.
pub mod hubbub {
    pub mod auth {
        pub mod v1 {
            tonic::include_proto!("hubbub.auth.v1");
        }
    }
    pub mod user {
        pub mod v1 {
            tonic::include_proto!("hubbub.user.v1");
        }
    }
    pub mod group {
        pub mod v1 {
            tonic::include_proto!("hubbub.group.v1");
        }
    }
    pub mod message {
        pub mod v1 {
            tonic::include_proto!("hubbub.message.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("hubbub.events.v1");
        }
    }
}

pub use hubbub::auth::v1 as auth;
pub use hubbub::events::v1 as events;
pub use hubbub::group::v1 as group;
pub use hubbub::message::v1 as message;
pub use hubbub::user::v1 as user;
