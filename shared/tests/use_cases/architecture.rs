//! The shape the code must keep, checked on its source:
//! - a provider is one folder: outside `provider/<name>/` only the provider registry
//!   names it (code, comments and strings alike), in the library and in the functions;
//! - use cases and HTTP adapters never import a provider's module (or the registry):
//!   they see providers only through the ports;
//! - use cases never name an AWS crate: storage, queues and buses are ports.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The provider folders: `provider/<name>/`.
fn providers() -> Vec<String> {
    std::fs::read_dir(root().join("src/provider"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// How a provider's name may be written: `google_health`, `google-health`, `Google
/// Health`, `GoogleHealth`, `GOOGLE_HEALTH`, ...
fn spellings(folder: &str) -> Vec<String> {
    let words: Vec<&str> = folder.split('_').collect();
    ["", "_", "-", " "]
        .iter()
        .map(|sep| words.join(sep))
        .collect()
}

#[test]
fn only_a_providers_folder_and_the_registry_name_it() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for function in std::fs::read_dir(root().join("../functions")).unwrap() {
        rust_files(&function.unwrap().path().join("src"), &mut files);
    }
    let registry = root().join("src/provider/registry.rs");
    let ports = root().join("src/provider/mod.rs");
    let mut offences = Vec::new();
    for folder in providers() {
        let own = root().join("src/provider").join(&folder);
        // Rust needs the folder declared in its parent module; that line is the folder's.
        let declaration = format!("pub mod {folder};");
        for file in files
            .iter()
            .filter(|f| !f.starts_with(&own) && **f != registry)
        {
            let text = std::fs::read_to_string(file).unwrap().to_lowercase();
            for (n, line) in text.lines().enumerate() {
                if *file == ports && line.trim() == declaration {
                    continue;
                }
                if spellings(&folder).iter().any(|s| line.contains(s.as_str())) {
                    offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "provider named outside its folder:\n{}",
        offences.join("\n")
    );
}

#[test]
fn use_cases_and_http_adapters_never_import_a_provider_module() {
    let src = root().join("src");
    let mut files = use_cases();
    rust_files(&src.join("api"), &mut files);
    let mut modules = providers();
    modules.extend(["memory".to_owned(), "registry".to_owned()]);
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for m in &modules {
            if text.contains(&format!("provider::{m}")) {
                offences.push(format!("{} imports provider::{m}", file.display()));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// The use-case modules.
fn use_cases() -> Vec<PathBuf> {
    let src = root().join("src");
    [
        "connect.rs",
        "sync.rs",
        "tokens.rs",
        "refresh.rs",
        "webhook.rs",
        "daily.rs",
        "signals/mod.rs",
        "signals/history.rs",
        "signals/rules.rs",
        "signals/score.rs",
        "signals/send_time.rs",
    ]
    .iter()
    .map(|m| src.join(m))
    .collect()
}

#[test]
fn use_cases_never_name_an_aws_crate() {
    let offences: Vec<String> = use_cases()
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("aws_sdk") || text.contains("aws_config")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}
