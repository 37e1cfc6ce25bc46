//! The shape ARCHITECTURE.md promises, checked: no module of the core or of
//! the server imports another that imports it back, storage types import no
//! service, and the gateway imports no REST dialect.

use std::path::Path;
use std::process::Command;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("the workspace root")
}

#[test]
fn no_crate_has_a_module_cycle() {
    for krate in ["confab-core", "confab-server", "confab-nats", "confab-sqlite", "confab-postgres"] {
        let src = workspace().join("crates").join(krate).join("src");
        let out = Command::new("python3")
            .arg(workspace().join("tools/module-cycles.py"))
            .arg(&src)
            .output()
            .expect("python3 runs tools/module-cycles.py");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{krate}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains("CYCLE"), "{krate} has a module cycle:\n{text}");
        assert!(text.contains("modules"), "{krate}: the script read nothing: {text}");
    }
}

/// Lines of a source file that are code, not comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

#[test]
fn storage_types_import_no_service_and_the_gateway_no_dialect() {
    let storage = code(&workspace().join("crates/confab-core/src/storage.rs"));
    for service in ["apps", "users", "messages", "groups", "relations", "files", "gateway", "settings", "moderation"] {
        assert!(!storage.contains(&format!("crate::{service}")), "storage.rs imports the {service} service");
    }
    for file in rust_files(&workspace().join("crates/confab-server/src/gateway")) {
        let source = code(&file);
        for dialect in ["easemob", "leancloud", "wildfire"] {
            // `crate::leancloud::…`, not `crate::leancloud_data` (shared by both).
            let path = format!("crate::{dialect}");
            let imports = source
                .match_indices(&path)
                .any(|(at, _)| !source[at + path.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'));
            assert!(!imports, "{} imports the {dialect} dialect", file.display());
        }
    }
}

/// Every `.rs` file under `dir`, in its subfolders too.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The attributes written just above `item` in `source`.
fn attributes_of<'a>(source: &'a str, item: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines.iter().position(|l| l.starts_with(item)).unwrap_or_else(|| panic!("{item} is gone"));
    lines[..at].iter().rev().take_while(|l| l.starts_with("#[") || l.starts_with("///")).copied().collect()
}

#[test]
fn message_types_of_the_core_are_not_a_wire_format() {
    // What is stored, sent between nodes or to devices is confab-wire's
    // versioned DTOs, so a rename here cannot change a format.
    let model = code(&workspace().join("crates/confab-core/src/model.rs"));
    let events = code(&workspace().join("crates/confab-core/src/events.rs"));
    let items = [
        (&model, "pub struct Message {"),
        (&model, "pub enum Body {"),
        (&model, "pub enum Original {"),
        (&model, "pub enum MessageState {"),
        (&model, "pub enum Coordinate {"),
        (&model, "pub struct ImageSize {"),
        (&events, "pub struct MessageUpdate {"),
        (&events, "pub enum UpdateKind {"),
    ];
    for (source, item) in items {
        let attributes = attributes_of(source, item).join("\n");
        assert!(!attributes.contains("Serialize") && !attributes.contains("serde"), "{item} is serde again");
    }
}
