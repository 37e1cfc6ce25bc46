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
    let gateway = workspace().join("crates/confab-server/src/gateway");
    for entry in std::fs::read_dir(&gateway).unwrap() {
        let source = code(&entry.unwrap().path());
        for dialect in ["easemob", "leancloud", "wildfire"] {
            assert!(!source.contains(&format!("crate::{dialect}")), "the gateway imports the {dialect} dialect");
        }
    }
}
