//! OpenAPI 3.1 documents of the three REST dialects, served at
//! `/openapi/{easemob,wildfire,leancloud}.json`.
//!
//! Each document is made at start from the routes the dialect's router
//! really serves (read from the built router, so a route cannot be served
//! undocumented), with each operation's summary and vendor ID from the
//! dialect's table (`easemob.rs`, `wildfire.rs`, `leancloud.rs`), its path
//! parameters, its authentication, and the vendor's own error body
//! (`utoipa`'s `ToSchema` on the types the dialects render errors with).

mod easemob;
mod leancloud;
mod wildfire;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

/// One operation's words: its method and path as the router has them, a
/// summary, and the vendor's ID from `docs/compatibility.md` when it has one.
pub(crate) struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub id: Option<&'static str>,
}

/// What differs between the dialects' documents.
struct Dialect {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    /// The security schemes every operation but the open ones needs (all of them).
    security: Value,
    /// Operations that need no credentials (`METHOD path`).
    open: &'static [&'static str],
    /// The error body's schema name and schema.
    error: (&'static str, Value),
    /// The status codes errors come with (WildfireChat answers 200 with a code).
    error_statuses: &'static [&'static str],
    /// The success body's schema name and schema, when the dialect has one
    /// shape for (nearly) all.
    success: Option<(&'static str, Value)>,
    /// Operations whose success body is something else (`METHOD path`: a
    /// token, a file's bytes).
    other_success: &'static [&'static str],
    /// The request body's schema of an operation (method, path): the type its
    /// handler reads the body into.
    request: fn(&str, &str) -> Option<Schema>,
    ops: &'static [Op],
}

/// The served routes of a router: (method, path template), sorted.
///
/// axum has no public way to list a router's routes; its `Debug` output
/// names each route's path and the methods it allows (the `Allow` header it
/// would send), which is what is read here. A change of that output makes
/// the documents empty, which `tests/api/openapi.rs` catches at once.
pub fn routes_of<S>(router: &Router<S>) -> Vec<(String, String)> {
    let text = format!("{router:?}");
    // The routes proper; the fallback router's catch-all routes come after.
    let text = text.split("fallback_router:").next().unwrap_or_default();
    let paths: BTreeMap<&str, &str> = regex_pairs(text, r#"RouteId\((\d+)\): "([^"]+)""#);
    let methods: BTreeMap<&str, &str> =
        regex_pairs(text, r#"RouteId\((\d+)\): MethodRouter\(MethodRouter \{.*?allow_header: Bytes\(b"([A-Z,]*)"\)"#);
    let mut routes = Vec::new();
    for (id, path) in paths {
        let Some(allowed) = methods.get(id) else { continue };
        for method in allowed.split(',').filter(|m| !m.is_empty() && *m != "HEAD") {
            routes.push((method.to_owned(), path.to_owned()));
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

fn regex_pairs<'a>(text: &'a str, pattern: &str) -> BTreeMap<&'a str, &'a str> {
    let re = regex::Regex::new(pattern).expect("valid pattern");
    re.captures_iter(text).filter_map(|c| Some((c.get(1)?.as_str(), c.get(2)?.as_str()))).collect()
}

/// The three documents, made once at start.
#[derive(Clone)]
pub struct Documents {
    texts: Arc<BTreeMap<&'static str, String>>,
    /// Served routes without words, and words for routes not served.
    problems: Arc<Vec<String>>,
}

impl Documents {
    /// Documents of the dialects' routers, given as (name, served routes).
    pub fn new(served: &[(&'static str, Vec<(String, String)>)]) -> Documents {
        let mut documents = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, routes) in served {
            let dialect = match *name {
                "easemob" => easemob::dialect(),
                "wildfire" => wildfire::dialect(),
                "leancloud" => leancloud::dialect(),
                _ => continue,
            };
            for (method, path) in routes {
                if !dialect.ops.iter().any(|op| op.method == method && op.path == path) {
                    problems.push(format!("{name}: {method} {path} is served but has no words in openapi/{name}.rs"));
                }
            }
            for op in dialect.ops {
                if !routes.iter().any(|(method, path)| op.method == method && op.path == path) {
                    problems.push(format!("{name}: {} {} is in openapi/{name}.rs but not served", op.method, op.path));
                }
            }
            documents.insert(dialect.name, document(&dialect, routes).to_string());
        }
        Documents { texts: Arc::new(documents), problems: Arc::new(problems) }
    }

    /// Routes served without words, and words of routes not served: empty
    /// when the documents match the routers (the test checks).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    pub fn router(&self) -> Router {
        let documents = self.clone();
        Router::new()
            .route("/openapi/{file}", get(move |Path(file): Path<String>| async move { documents.serve(&file) }))
    }

    fn serve(&self, file: &str) -> Response {
        let name = file.strip_suffix(".json").unwrap_or_default();
        match self.texts.get(name) {
            Some(text) => ([(header::CONTENT_TYPE, "application/json")], text.clone()).into_response(),
            None => (StatusCode::NOT_FOUND, axum::Json(json!({"error": "no such document"}))).into_response(),
        }
    }
}

/// A dialect's document: every served route, with its words where the
/// table has them (a served route without them is still listed, marked
/// undocumented, and the test fails).
fn document(dialect: &Dialect, served: &[(String, String)]) -> Value {
    let words: BTreeMap<(&str, &str), &Op> = dialect.ops.iter().map(|op| ((op.method, op.path), op)).collect();
    let mut paths = serde_json::Map::new();
    let mut components = serde_json::Map::new();
    for (method, path) in served {
        let op = words.get(&(method.as_str(), path.as_str()));
        let summary = op.map_or("(undocumented)", |op| op.summary);
        let key = format!("{method} {path}");
        let parameters: Vec<Value> = path_parameters(path)
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut responses = serde_json::Map::new();
        let shaped = dialect.success.as_ref().filter(|_| !dialect.other_success.contains(&key.as_str()));
        let success = match shaped {
            Some((schema, _)) => json!({
                "description": "Success, in the vendor's shape",
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
            }),
            None => json!({"description": "Success, in the vendor's shape"}),
        };
        responses.insert("200".into(), success);
        let error = json!({
            "description": "An error in the vendor's shape",
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", dialect.error.0)}}}
        });
        for status in dialect.error_statuses {
            responses.insert((*status).into(), error.clone());
        }
        let mut operation = json!({
            "summary": summary,
            "operationId": operation_id(method, path),
            "tags": [tag(path)],
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(id) = op.and_then(|op| op.id) {
            operation["description"] = json!(format!("Vendor ID {id} (docs/compatibility.md)."));
        }
        if matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            let (required, media, schema) = match (dialect.request)(method, path) {
                Some(Schema { schema, nested, media, required }) => {
                    // What the body's schema refers to, once per name.
                    for (name, part) in nested {
                        components.entry(name).or_insert(part);
                    }
                    (required, media, schema)
                }
                None => (false, "application/json", json!({})),
            };
            operation["requestBody"] = json!({
                "required": required,
                "content": {media: {"schema": schema}}
            });
        }
        if dialect.open.contains(&key.as_str()) {
            operation["security"] = json!([]);
        }
        let item = paths.entry(path.clone()).or_insert_with(|| json!({}));
        item[method.to_lowercase()] = operation;
    }
    let mut schemas = components;
    schemas.insert(dialect.error.0.to_owned(), dialect.error.1.clone());
    if let Some((name, schema)) = &dialect.success {
        schemas.insert((*name).to_owned(), schema.clone());
    }
    let requirement: serde_json::Map<String, Value> =
        dialect.security.as_object().map(|s| s.keys().map(|k| (k.clone(), json!([]))).collect()).unwrap_or_default();
    json!({
        "openapi": "3.1.0",
        "info": {"title": dialect.title, "version": env!("CARGO_PKG_VERSION"), "description": dialect.description},
        "paths": paths,
        "security": [requirement],
        "components": {
            "securitySchemes": dialect.security,
            "schemas": schemas,
        },
    })
}

/// The `{name}` parts of a path template.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(|c| c == '{' || c == '}').replace(['-', '.'], "_"))
        .collect();
    format!("{}_{}", method.to_lowercase(), words.join("_"))
}

/// The first part of the path after the dialect's own prefix: the area.
fn tag(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && !s.starts_with('{')).collect();
    let skip = match parts.first() {
        Some(&"admin") | Some(&"1.1") | Some(&"1.2") => 1,
        _ => 0,
    };
    let rest: Vec<&str> = parts.into_iter().skip(skip).filter(|p| *p != "rtm").collect();
    rest.first().map_or("other".to_owned(), |s| s.to_string())
}

/// The schema of a type the dialect renders, as JSON.
fn schema_of<T: utoipa::PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or(Value::Null)
}

/// A request body: a type's schema and the schemas it refers to
/// (`#/components/schemas/…`), its media type, and whether it may be left out.
pub(crate) struct Schema {
    schema: Value,
    nested: Vec<(String, Value)>,
    media: &'static str,
    required: bool,
}

impl Schema {
    /// A body that may be left out.
    fn optional(self) -> Schema {
        Schema { required: false, ..self }
    }
}

/// The JSON body a handler reads into `T`.
fn schema_with_parts<T: utoipa::ToSchema>() -> Schema {
    let mut parts = Vec::new();
    T::schemas(&mut parts);
    let nested = parts.into_iter().map(|(name, part)| (name, serde_json::to_value(part).unwrap_or(Value::Null)));
    Schema { schema: schema_of::<T>(), nested: nested.collect(), media: "application/json", required: true }
}

/// A JSON body that is not a struct of ours (a list, a bare string), by its Rust type.
fn schema_of_type<T: utoipa::PartialSchema>(description: &str) -> Schema {
    let mut schema = schema_of::<T>();
    schema["description"] = Value::String(description.to_owned());
    Schema { schema, nested: Vec::new(), media: "application/json", required: true }
}

/// A body a handler reads as raw parts (a form, a multipart upload), described as it reads them.
fn raw_body(media: &'static str, schema: Value) -> Schema {
    Schema { schema, nested: Vec::new(), media, required: true }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_from_the_router() {
        async fn nothing() {}
        let router: Router = Router::new()
            .route("/a/{id}", get(nothing).post(nothing))
            .route("/b", axum::routing::delete(nothing))
            .layer(tower_http::cors::CorsLayer::permissive());
        assert_eq!(
            routes_of(&router),
            [
                ("DELETE".to_owned(), "/b".to_owned()),
                ("GET".to_owned(), "/a/{id}".to_owned()),
                ("POST".to_owned(), "/a/{id}".to_owned())
            ]
        );
    }

    #[test]
    fn ids_and_tags() {
        assert_eq!(operation_id("GET", "/{org}/{app}/users/{username}"), "get_org_app_users_username");
        assert_eq!(tag("/{org}/{app}/chatgroups/{id}"), "chatgroups");
        assert_eq!(tag("/admin/user/create"), "user");
        assert_eq!(tag("/1.2/rtm/conversations/{id}"), "conversations");
    }
}
