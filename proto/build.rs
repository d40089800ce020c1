//! Compiles the .proto contracts with protox (pure Rust: no system protoc needed).
use std::io::{Error, ErrorKind};

fn main() -> std::io::Result<()> {
    let files = ["auth.proto", "user.proto", "group.proto", "message.proto", "events.proto"];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."]).map_err(|e| Error::new(ErrorKind::InvalidData, e))?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)
}
