//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations as the router registers them (`routes/mod.rs`), so a route cannot exist without
//! its documentation. Served at `/api/v1/openapi.json`, browsable at `/api/v1/docs`.

use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, RefOr, Response, ResponseBuilder};

use crate::error::ErrorBody;

/// The document's fixed parts: info, tags, the bearer scheme (required unless an operation says
/// otherwise), and the paths the router cannot carry itself.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hubbub",
        description = "A real-time chat backend: accounts, groups, direct chats and public rooms, messages with \
history, attachments and receipts. This is the HTTP API; the live side is Socket.IO v5 at `/socket.io/` (its events \
are listed in the AsyncAPI document at `/api/v1/asyncapi.json`). Errors are `{\"error\": {code, message, requestId}}`; \
every response carries `x-request-id`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(crate::routes::attachments::download),
    components(schemas(ErrorBody)),
    modifiers(&Bearer),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "users", description = "Profiles, search, presence and avatars"),
        (name = "groups", description = "Groups, direct chats, public rooms, members and invites"),
        (name = "messages", description = "History, posting, edits, deletes and read receipts"),
        (name = "attachments", description = "Files and images, straight to and from object storage"),
        (name = "admin", description = "Administrators only"),
        (name = "ops", description = "Operations")
    )
)]
pub struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("The `accessToken` of register, login or refresh"))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Errors any operation can answer, added to each operation that does not describe them itself.
const COMMON: [(&str, &str); 3] = [
    ("400", "VALIDATION_ERROR: a malformed body, query or path"),
    ("429", "RATE_LIMIT_EXCEEDED: past a limit; `Retry-After` says when to try again"),
    ("503", "SERVICE_UNAVAILABLE: a dependency is down; try again"),
];

fn error_response(description: &str) -> RefOr<Response> {
    let content = Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody"))));
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
}

/// Adds the common error responses to every operation, and 401 to every one that needs a token.
pub fn complete(openapi: &mut utoipa::openapi::OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
            add_errors(op);
        }
    }
}

fn add_errors(op: &mut Operation) {
    // No `security` of its own: the document's bearer requirement applies.
    let anonymous = op.security.as_ref().is_some_and(|reqs| reqs.iter().all(|r| *r == Default::default()));
    let mut errors = COMMON.to_vec();
    if !anonymous {
        errors.push(("401", "UNAUTHORIZED: no, an invalid, an expired or a revoked access token"));
    }
    for (status, description) in errors {
        op.responses.responses.entry(status.to_owned()).or_insert_with(|| error_response(description));
    }
}

/// The AsyncAPI document of the Socket.IO events (`docs/asyncapi.json`), its components filled
/// with the HTTP API's schemas, so both documents show one `Message`.
pub fn asyncapi(openapi: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/asyncapi.json")).unwrap_or_else(|_| serde_json::json!({}));
    let schemas = serde_json::to_value(openapi).ok().and_then(|v| v.pointer("/components/schemas").cloned());
    if let (Some(serde_json::Value::Object(from)), Some(serde_json::Value::Object(into))) =
        (schemas, doc.pointer_mut("/components/schemas"))
    {
        for (name, schema) in from {
            into.entry(name).or_insert(schema);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    fn spec() -> Value {
        serde_json::to_value(crate::routes::openapi()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refs(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.insert(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// utoipa names a schema after its type and keeps one per name: two bodies called the same
    /// would silently document one route with the other's shape.
    #[test]
    fn no_two_documented_types_share_a_name() {
        let mut names =
            vec!["User", "Group", "Member", "Attachment", "Message"].into_iter().map(String::from).collect::<Vec<_>>();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![dir.join("error.rs"), dir.join("openapi.rs")];
        for entry in std::fs::read_dir(dir.join("routes")).unwrap_or_else(|e| panic!("{e}")).flatten() {
            files.push(entry.path());
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let mut documented = false;
            for line in text.lines() {
                if line.starts_with("#[derive(") && line.contains("ToSchema") {
                    documented = true;
                } else if documented
                    && let Some(rest) = line.strip_prefix("pub struct ").or_else(|| line.strip_prefix("struct "))
                {
                    names.push(
                        rest.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or_default().to_owned(),
                    );
                    documented = false;
                }
            }
        }
        let mut seen = BTreeSet::new();
        for n in &names {
            assert!(seen.insert(n.clone()), "two documented types are named {n}");
        }
        assert!(names.len() > 25, "{names:?}");
    }

    #[test]
    fn every_reference_in_the_socket_events_document_resolves() {
        let doc = super::asyncapi(&crate::routes::openapi());
        assert_eq!(doc["asyncapi"], "3.0.0");
        let mut found = BTreeSet::new();
        refs(&doc, &mut found);
        for r in found {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("unexpected ref {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} is not defined");
        }
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let spec = spec();
        assert_eq!(spec["openapi"], "3.1.0");
        let mut found = BTreeSet::new();
        refs(&spec, &mut found);
        assert!(found.len() > 10, "{found:?}");
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
            assert!(spec["components"]["schemas"][name].is_object(), "{r} is not defined");
        }
    }

    #[test]
    fn every_operation_has_an_id_a_success_and_its_errors() {
        let spec = spec();
        let paths = spec["paths"].as_object().unwrap_or_else(|| panic!("no paths"));
        let mut operations = 0;
        let mut ids = BTreeSet::new();
        for (path, item) in paths {
            assert!(!path.contains('*'), "{path}: a wildcard is not an OpenAPI path parameter");
            for (method, op) in item.as_object().unwrap_or_else(|| panic!("{path}")) {
                operations += 1;
                let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path}"));
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
                assert!(ids.insert(id.to_owned()), "{method} {path}: operationId {id} is taken");
                assert!(responses.keys().any(|s| s.starts_with('2') || s.starts_with('3')), "{method} {path}");
                for status in ["400", "429", "503"] {
                    assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                }
                let anonymous = op.get("security").is_some_and(|s| s == &serde_json::json!([{}]));
                assert!(anonymous || responses.contains_key("401"), "{method} {path} needs a token: 401");
            }
        }
        // API.md's routes, the avatar routes and /health.
        assert_eq!(operations, 41, "operations documented");
        for anonymous in ["/api/v1/auth/register", "/api/v1/auth/login", "/health"] {
            let op = paths[anonymous].as_object().and_then(|m| m.values().next()).cloned().unwrap_or_default();
            assert_eq!(op["security"], serde_json::json!([{}]), "{anonymous} must not need a token");
        }
        assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    }
}
