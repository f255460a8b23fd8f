//! The shape the code must keep, checked on its source. Arrows point one way:
//! functions → inbound adapters → use cases → ports ← adapters, the domain at the ground.
//!
//! - The domain imports nothing of the crate but itself.
//! - A port names only the domain and other ports: never an adapter's error or type.
//! - A use case imports the domain, the ports and the metric names, and nothing else of
//!   the crate: no adapter, no registry, no configuration, no other use case.
//! - An inbound adapter reaches use cases, ports and the domain, never an adapter.
//! - An adapter never reads configuration (it receives its settings as values), and only
//!   `config.rs` reads the environment.
//! - A provider is one folder: outside `provider/<name>/` only the registry and the
//!   domain's enum of provider kinds name it (code, comments and strings alike), in the
//!   library and in the functions.
//! - Code only an operator runs (subscriber management, DLQ redrive, the directory
//!   backfill) lives in the admin crate, not in the Lambda library.
//!
//! Imports are read as the code writes them (`crate::<module>` and `super::` paths outside
//! comments); a test of each rule breaks a copy of a real file and sees the rule fail.

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

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The files of a module of the library (`domain`, `use_cases`, `config.rs`, ...).
fn files_of(module: &str) -> Vec<PathBuf> {
    let path = src().join(module);
    if path.is_dir() {
        let mut out = Vec::new();
        rust_files(&path, &mut out);
        out
    } else {
        vec![path.with_extension("rs")]
    }
}

/// The code of a file without its comments: what the compiler reads as paths.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // `//` inside a string literal (URLs) is kept: no comment starts there.
            Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules of the crate a file's code names (`crate::<module>`).
fn crate_modules(code: &str) -> Vec<String> {
    code.match_indices("crate::")
        .map(|(at, _)| {
            code[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// The use case a file of `use_cases/` belongs to (`connect`, `sync`, ...).
fn use_case_of(file: &Path) -> String {
    let relative = file.strip_prefix(src().join("use_cases")).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    Path::new(first)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The use-case modules.
fn use_cases() -> Vec<String> {
    files_of("use_cases")
        .iter()
        .map(|f| use_case_of(f))
        .filter(|m| m != "mod")
        .collect()
}

/// What a use case's file imports that it may not: any module of the crate but the
/// domain, the ports and the metric names, and any other use case (by `crate::` or
/// `super::`).
fn use_case_offences(file: &Path, text: &str) -> Vec<String> {
    let own = use_case_of(file);
    let code = code(text);
    let mut offences = Vec::new();
    for module in crate_modules(&code) {
        if !["domain", "ports", "telemetry", "use_cases"].contains(&module.as_str()) {
            offences.push(format!("crate::{module}"));
        }
    }
    for case in use_cases() {
        let other = case != own;
        let by_path = code.contains(&format!("crate::use_cases::{case}"));
        // A file directly in `use_cases/` reaches a sibling through `super::`.
        let in_folder = file.parent() != Some(&src().join("use_cases"));
        let by_super = !in_folder && code.contains(&format!("super::{case}"));
        if other && (by_path || by_super) {
            offences.push(format!("use case {case}"));
        }
    }
    offences
}

fn domain_offences(text: &str) -> Vec<String> {
    crate_modules(&code(text))
        .into_iter()
        .filter(|m| m != "domain")
        .map(|m| format!("crate::{m}"))
        .collect()
}

fn port_offences(text: &str) -> Vec<String> {
    crate_modules(&code(text))
        .into_iter()
        .filter(|m| m != "domain" && m != "ports")
        .map(|m| format!("crate::{m}"))
        .collect()
}

/// The outbound adapters: they implement ports, and take their settings as values.
const ADAPTERS: [&str; 9] = [
    "store",
    "budget",
    "queue",
    "marketing",
    "provider",
    "events",
    "secret_store",
    "clock",
    "http_client",
];

fn adapter_offences(text: &str) -> Vec<String> {
    let code = code(text);
    let mut offences: Vec<String> = crate_modules(&code)
        .into_iter()
        .filter(|m| ["config", "wiring", "use_cases", "inbound"].contains(&m.as_str()))
        .map(|m| format!("crate::{m}"))
        .collect();
    if code.contains("env::var") {
        offences.push("reads the environment".into());
    }
    offences
}

fn inbound_offences(text: &str) -> Vec<String> {
    crate_modules(&code(text))
        .into_iter()
        .filter(|m| !["domain", "ports", "use_cases", "telemetry", "inbound"].contains(&m.as_str()))
        .map(|m| format!("crate::{m}"))
        .collect()
}

/// Every file of `modules` with what it may not import, by `rule`.
fn check(modules: &[&str], rule: impl Fn(&Path, &str) -> Vec<String>) -> Vec<String> {
    let mut offences = Vec::new();
    for module in modules {
        for file in files_of(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for offence in rule(&file, &text) {
                offences.push(format!("{}: {offence}", file.display()));
            }
        }
    }
    offences
}

#[test]
fn the_domain_imports_nothing_of_the_crate_but_itself() {
    let offences = check(&["domain"], |_, text| domain_offences(text));
    assert!(offences.is_empty(), "{}", offences.join("\n"));
    // The rule fails when broken: a domain file naming a provider adapter.
    let types = std::fs::read_to_string(src().join("domain/mod.rs")).unwrap();
    let broken = format!("{types}\nuse crate::provider::registry::Registry;\n");
    assert_eq!(domain_offences(&broken), ["crate::provider"]);
}

#[test]
fn ports_name_only_the_domain_and_their_own_errors() {
    let offences = check(&["ports"], |_, text| port_offences(text));
    assert!(offences.is_empty(), "{}", offences.join("\n"));
    // A port naming an adapter's error: what `ProviderError::Credentials` once did.
    let provider = std::fs::read_to_string(src().join("ports/provider.rs")).unwrap();
    let broken = provider.replace(
        "use crate::ports::secrets::SecretError;",
        "use crate::secret_store::SecretError;",
    );
    assert_ne!(broken, provider);
    assert_eq!(port_offences(&broken), ["crate::secret_store"]);
}

#[test]
fn use_cases_reach_only_the_domain_and_the_ports_and_never_each_other() {
    let offences = check(&["use_cases"], use_case_offences);
    assert!(offences.is_empty(), "{}", offences.join("\n"));
    // A use case importing another, configuration, an adapter, the registry.
    let refresh = src().join("use_cases/refresh.rs");
    let text = std::fs::read_to_string(&refresh).unwrap();
    for (import, offence) in [
        ("use crate::use_cases::sync::Work;", "use case sync"),
        ("use crate::config::QueueSettings;", "crate::config"),
        ("use crate::store::memory::MemoryStore;", "crate::store"),
        (
            "use crate::provider::registry::Registry;",
            "crate::provider",
        ),
    ] {
        let broken = format!("{text}\n{import}\n");
        assert!(
            use_case_offences(&refresh, &broken).contains(&offence.to_owned()),
            "{import}"
        );
    }
    // A sibling reached through `super::`.
    let broken = format!("{text}\nuse super::daily::DailyService;\n");
    assert!(use_case_offences(&refresh, &broken).contains(&"use case daily".to_owned()));
}

#[test]
fn inbound_adapters_reach_use_cases_ports_and_the_domain_only() {
    let offences = check(&["inbound"], |_, text| inbound_offences(text));
    assert!(offences.is_empty(), "{}", offences.join("\n"));
    let broken =
        "use crate::provider::registry::Registry;\nuse crate::store::dynamodb::DynamoStore;";
    assert_eq!(
        inbound_offences(broken),
        ["crate::provider", "crate::store"]
    );
}

#[test]
fn adapters_take_settings_as_values_and_only_config_reads_the_environment() {
    let offences = check(&ADAPTERS, |_, text| adapter_offences(text));
    assert!(offences.is_empty(), "{}", offences.join("\n"));
    // Outside `config.rs`, nothing of the library reads the environment.
    let mut all = Vec::new();
    rust_files(&src(), &mut all);
    let readers: Vec<String> = all
        .iter()
        .filter(|f| **f != src().join("config.rs"))
        .filter(|f| code(&std::fs::read_to_string(f).unwrap()).contains("env::var"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(readers.is_empty(), "read the environment: {readers:?}");
    // A provider's settings reading configuration, as they once did.
    let settings = src().join("provider/fitbit/settings.rs");
    let text = std::fs::read_to_string(settings).unwrap();
    let broken = format!("{text}\nuse crate::config;\nfn f() {{ std::env::var(\"X\").ok(); }}\n");
    assert_eq!(
        adapter_offences(&broken),
        ["crate::config", "reads the environment"]
    );
}

/// The provider folders: `provider/<name>/`.
fn providers() -> Vec<String> {
    std::fs::read_dir(src().join("provider"))
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
fn only_a_providers_folder_the_registry_and_the_kinds_name_it() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for function in std::fs::read_dir(src().join("../../functions")).unwrap() {
        rust_files(&function.unwrap().path().join("src"), &mut files);
    }
    let allowed = [
        src().join("provider/registry.rs"),
        src().join("domain/provider_kind.rs"),
    ];
    let parent = src().join("provider/mod.rs");
    let mut offences = Vec::new();
    for folder in providers() {
        let own = src().join("provider").join(&folder);
        // Rust needs the folder declared in its parent module; that line is the folder's.
        let declaration = format!("pub mod {folder};");
        for file in files
            .iter()
            .filter(|f| !f.starts_with(&own) && !allowed.contains(f))
        {
            let text = std::fs::read_to_string(file).unwrap().to_lowercase();
            for (n, line) in text.lines().enumerate() {
                if *file == parent && line.trim() == declaration {
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
fn use_cases_never_name_an_aws_crate() {
    let offences: Vec<String> = files_of("use_cases")
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("aws_sdk") || text.contains("aws_config")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn operator_only_code_lives_in_the_admin_crate() {
    // Subscriber management, the DLQ redrive and the directory backfill: the admin CLI
    // runs them, so no function's binary carries them.
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut offences = Vec::new();
    for file in &files {
        let code = code(&std::fs::read_to_string(file).unwrap());
        for operator_only in [
            "ProjectSubscribers",
            "fn redrive",
            "fn backfill_directory",
            "MessageQueue",
        ] {
            if code.contains(operator_only) {
                offences.push(format!("{}: {operator_only}", file.display()));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}
