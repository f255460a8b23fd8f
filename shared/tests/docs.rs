//! The documentation, checked against the repository it describes.
//!
//! - Every repository path a document names exists (`README.md`, `SECURITY.md`,
//!   `docs/*.md`): in code spans and fenced blocks, a word whose first segment is a
//!   top-level entry of the repository (`shared/...`, `tests/local/demo.sh`,
//!   `infra/template.yaml`), from the repository root; in markdown links, the target, from
//!   the document's folder, and its `#anchor` a heading of the document it points to.
//!   URLs, globs (`functions/*`) and placeholders (`<provider>`) are not paths.
//! - Every Rust item path a code span names (`fitbridge::wiring::AwsPorts`,
//!   `ProviderCatalog::sync_work`, `crate::ports::clock::Clock`) is defined in the
//!   repository's Rust sources: each segment after a crate root (`crate`, `self`, `super`,
//!   a workspace crate) is the name of a `struct`, `enum`, `trait`, `fn`, `mod`, `const`,
//!   `type`, `static` or `union` somewhere; and a path rooted in a workspace crate
//!   resolves through its modules (`fitbridge::api::…` fails when the crate has no `api`
//!   module, whatever other crate has one). Paths into other crates (`std::…`, a
//!   dependency of the workspace) and CloudFormation types (`AWS::SQS::Queue`) are not
//!   checked.
//! - `docs/configuration.md` lists exactly the parameters of `infra/template.yaml`'s
//!   `Parameters:` section, each with the template's default.
//! - `README.md` has at most 200 lines and links every document in `docs/`.
//!
//! Each check is a function of text; beside each test of the real documents, a test feeds
//! it a document that breaks the rule and sees it fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest README allowed.
const README_MAX_LINES: usize = 200;

/// Folders that are built or installed, not part of the repository.
const GENERATED: [&str; 1] = ["target"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the library lives one folder below the repository root")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The documents checked: the README, the security policy and every `docs/*.md`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs = vec![root.join("README.md"), root.join("SECURITY.md")];
    docs.extend(
        docs_folder(root)
            .iter()
            .map(|name| root.join("docs").join(name)),
    );
    docs
}

/// The markdown files of `docs/`, by name, sorted.
fn docs_folder(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("a docs/ folder")
        .map(|e| {
            e.expect("a readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".md"))
        .collect();
    names.sort();
    names
}

// ---- reading markdown ---------------------------------------------------------------------

/// A document split into the lines of its fenced code blocks and the prose around them.
struct Markdown {
    /// The text outside fenced blocks (fenced lines left empty, so lines keep their place).
    prose: String,
    /// The lines inside fenced blocks.
    fenced: Vec<String>,
}

fn split_fences(text: &str) -> Markdown {
    let mut prose = String::new();
    let mut fenced = Vec::new();
    let mut open: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        let fence = marker.len() >= 3 && marker.chars().all(|c| marker.starts_with(c));
        match &open {
            Some(opened) if fence && marker.starts_with(opened.as_str()) => open = None,
            Some(_) => fenced.push(line.to_owned()),
            None if fence => open = Some(marker),
            None => prose.push_str(line),
        }
        prose.push('\n');
    }
    Markdown { prose, fenced }
}

/// Where the code spans of a text are, as char ranges of the span with its backticks
/// (CommonMark: a run of n backticks up to the next run of exactly n; an unmatched run is
/// literal).
fn span_ranges(chars: &[char]) -> Vec<(usize, usize, usize)> {
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let open = run_at(i);
        let mut j = i + open;
        let mut close = None;
        while j < chars.len() {
            if chars[j] != '`' {
                j += 1;
                continue;
            }
            let run = run_at(j);
            if run == open {
                close = Some(j);
                break;
            }
            j += run;
        }
        match close {
            Some(end) => {
                ranges.push((i, end + open, open));
                i = end + open;
            }
            None => i += open,
        }
    }
    ranges
}

/// The code spans of a text, their line breaks read as spaces.
fn code_spans(prose: &str) -> Vec<String> {
    let chars: Vec<char> = prose.chars().collect();
    span_ranges(&chars)
        .into_iter()
        .map(|(start, end, ticks)| {
            let body: String = chars[start + ticks..end - ticks].iter().collect();
            body.replace('\n', " ").trim().to_owned()
        })
        .collect()
}

/// The targets of the markdown links `[text](target)` of a text, outside code spans.
fn link_targets(prose: &str) -> Vec<String> {
    let mut chars: Vec<char> = prose.chars().collect();
    for (start, end, _) in span_ranges(&chars) {
        for c in &mut chars[start..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    }
    let text: String = chars.into_iter().collect();
    let mut targets = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        if let Some(target) = after[..end].split_whitespace().next() {
            targets.push(target.to_owned());
        }
        rest = &after[end..];
    }
    targets
}

// ---- paths ----------------------------------------------------------------------------------

/// The names at the repository's top level a path may start with: the tracked entries,
/// not the generated or hidden ones (`.ci` is the repository's).
fn top_level(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .expect("the repository root")
        .map(|e| {
            e.expect("a readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !GENERATED.contains(&name.as_str()))
        .filter(|name| !name.starts_with('.') || name == ".ci")
        .collect()
}

/// A word without the punctuation prose puts around it.
fn trim_word(word: &str) -> &str {
    word.trim_start_matches(['(', '"', '\'', '['])
        .trim_end_matches([',', '.', ';', ':', ')', '!', '"', '\'', ']'])
}

/// Whether a word is a pattern, a placeholder or a URL rather than a path.
fn is_pattern(word: &str) -> bool {
    word.contains(['*', '<', '>', '{', '}', '…', '$', '|', '?', '[', '='])
        || word.contains("...")
        || word.contains("://")
}

/// The repository path a word names, if its first segment is a top-level entry.
fn repo_path<'a>(word: &'a str, top: &BTreeSet<String>) -> Option<&'a str> {
    let word = trim_word(word);
    let word = word.strip_prefix("./").unwrap_or(word);
    if word.is_empty() || is_pattern(word) {
        return None;
    }
    let first = word.split('/').next()?;
    top.contains(first).then_some(word)
}

/// The paths a document names that do not exist, each with how it was named.
fn missing_paths(root: &Path, doc: &Path, text: &str) -> Vec<String> {
    let top = top_level(root);
    let markdown = split_fences(text);
    let mut words: Vec<(String, &str)> = Vec::new();
    for span in code_spans(&markdown.prose) {
        words.extend(span.split_whitespace().map(|w| (w.to_owned(), "code span")));
    }
    for line in &markdown.fenced {
        words.extend(
            line.split_whitespace()
                .map(|w| (w.to_owned(), "code block")),
        );
    }
    let mut missing = Vec::new();
    for (word, how) in &words {
        if let Some(path) = repo_path(word, &top) {
            if !root.join(path).exists() {
                missing.push(format!("{path} ({how})"));
            }
        }
    }
    let folder = doc.parent().unwrap_or(root);
    for target in link_targets(&markdown.prose) {
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target.as_str(), None),
        };
        // A URL or mailto:, a placeholder.
        if target.contains(':') || is_pattern(path) {
            continue;
        }
        let file = if path.is_empty() {
            doc.to_path_buf()
        } else {
            folder.join(path)
        };
        if !path.is_empty() && !file.exists() {
            missing.push(format!("{target} (link)"));
            continue;
        }
        let Some(anchor) = anchor.filter(|_| path.is_empty() || path.ends_with(".md")) else {
            continue;
        };
        let headings = if path.is_empty() {
            anchors(text)
        } else {
            anchors(&read(&file))
        };
        if !headings.contains(anchor) {
            missing.push(format!("{target} (no such heading)"));
        }
    }
    missing
}

/// The anchors of a document's headings, as GitHub makes them: lower case, punctuation
/// dropped, spaces as hyphens.
fn anchors(text: &str) -> BTreeSet<String> {
    split_fences(text)
        .prose
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn every_path_the_documents_name_exists() {
    let root = root();
    let mut missing = Vec::new();
    for doc in documents(&root) {
        for m in missing_paths(&root, &doc, &read(&doc)) {
            missing.push(format!("{}: {m}", relative(&root, &doc)));
        }
    }
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_path_that_does_not_exist_is_caught() {
    let root = root();
    let doc = root.join("docs").join("example.md");
    let text = "\
The worker is `shared/src/use_cases/sync/mod.rs`, run by `tests/local/test.sh [args]`;
see [the runbook](runbook.md#alarms), [the README](../README.md) and `infra/template.yaml`.
Not paths: `functions/*`, `shared/src/provider/<name>/`, `GET /connect/{provider}`,
[a site](https://example.com/shared/nothing.rs), [here](#layers-and-rules-one-heading),
`fitbridge/<stack name>`.

Stale: `shared/src/sync.rs`, and `shared/src/api/oauth.rs`, [a lost doc](nowhere.md),
[gone](../tests/local/gone.sh#top), `events/` but `events/nothing.json`,
[a lost section](runbook.md#no-such-section), [here too](#nowhere).

## Layers and rules: one heading

```sh
tests/local/demo.sh --keep
tests/local/nothing.sh
```
";
    let mut missing = missing_paths(&root, &doc, text);
    missing.sort();
    assert_eq!(
        missing,
        [
            "#nowhere (no such heading)",
            "../tests/local/gone.sh#top (link)",
            "events/nothing.json (code span)",
            "nowhere.md (link)",
            "runbook.md#no-such-section (no such heading)",
            "shared/src/api/oauth.rs (code span)",
            "shared/src/sync.rs (code span)",
            "tests/local/nothing.sh (code block)",
        ]
    );
}

// ---- Rust item paths ----------------------------------------------------------------------

/// Every `.rs` file under `dir`, generated and hidden folders left out.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("a readable entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || GENERATED.contains(&name.as_ref()) {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

const ITEM_KEYWORDS: [&str; 9] = [
    "struct", "enum", "trait", "fn", "mod", "const", "type", "static", "union",
];

/// The items a Rust source declares, as (keyword, name), one per line that starts with
/// one (`pub(crate) async fn name`, `const NAME: u8`, `pub mod name;`).
fn declared_items(source: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    for line in source.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut i = 0;
        while let Some(word) = words.get(i) {
            let modifier = *word == "pub"
                || word.starts_with("pub(")
                || ["async", "unsafe", "extern", "default", "\"C\""].contains(word)
                || (*word == "const"
                    && words
                        .get(i + 1)
                        .is_some_and(|next| ["fn", "unsafe", "async", "extern"].contains(next)));
            if modifier {
                i += 1;
                continue;
            }
            if ITEM_KEYWORDS.contains(word) {
                let name: String = words
                    .get(i + 1)
                    .unwrap_or(&"")
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    items.push((word.to_string(), name));
                }
            }
            break;
        }
    }
    items
}

/// The names a file re-exports (`pub use a::{B, c};`).
fn reexported(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find("pub use ") {
        let statement = &rest[at..];
        let end = statement.find(';').unwrap_or(statement.len());
        names.extend(
            statement[..end]
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_owned),
        );
        rest = &statement[end..];
    }
    names
}

/// Whether a code span is a Rust path: identifiers joined by `::`, maybe ending in `()`.
/// A CloudFormation resource type (`AWS::SQS::Queue`) is not one.
fn rust_path(span: &str) -> Option<Vec<&str>> {
    let span = span.strip_suffix("()").unwrap_or(span);
    let span = span.strip_prefix("::").unwrap_or(span);
    if !span.contains("::") || span.starts_with("AWS::") {
        return None;
    }
    let segments: Vec<&str> = span.split("::").collect();
    let identifier = |s: &&str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    segments.iter().all(identifier).then_some(segments)
}

/// What the Rust sources of the repository define.
struct Sources {
    /// Every item name declared anywhere.
    items: BTreeSet<String>,
    /// The workspace's own crates: name → the file its modules start at (`lib.rs` or
    /// `main.rs`); `crate`, `self` and `super` have none (which crate they mean depends
    /// on where a path is written).
    local: BTreeMap<String, Option<PathBuf>>,
    /// The crates paths into which are not the repository's to define.
    external: BTreeSet<String>,
}

fn sources(root: &Path) -> Sources {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let items = files
        .iter()
        .flat_map(|f| declared_items(&read(f)))
        .map(|(_, name)| name)
        .collect();

    let mut local: BTreeMap<String, Option<PathBuf>> = ["crate", "self", "super"]
        .into_iter()
        .map(|r| (r.to_owned(), None))
        .collect();
    let mut manifests: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| {
            f.ancestors()
                .find(|a| a.join("Cargo.toml").is_file())
                .map(Path::to_path_buf)
        })
        .collect();
    manifests.sort();
    manifests.dedup();
    for dir in manifests {
        let manifest = read(&dir.join("Cargo.toml"));
        let name = manifest
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|rest| rest.split('"').next());
        let start = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| f.is_file());
        if let Some(name) = name {
            local.insert(name.replace('-', "_"), start);
        }
    }

    let mut external: BTreeSet<String> = ["std", "core", "alloc"].map(String::from).into();
    let mut in_dependencies = false;
    for line in read(&root.join("Cargo.toml")).lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[workspace.dependencies]";
        } else if let Some((name, spec)) = line.split_once('=').filter(|_| in_dependencies) {
            let name = name.trim().replace('-', "_");
            if !name.starts_with('#') && !spec.contains("path =") {
                external.insert(name);
            }
        }
    }
    Sources {
        items,
        local,
        external,
    }
}

/// Follows `segments` through the modules of a crate, from the file its modules start at:
/// a segment is a module of the current file (then its file is next), or an item the file
/// declares or re-exports (then the path has reached an item, and what follows belongs to
/// it). Anything else is a stale path.
fn resolve(root: &Path, start: &Path, segments: &[&str]) -> Result<(), String> {
    let mut file = start.to_path_buf();
    for segment in segments {
        let source = read(&file);
        let items = declared_items(&source);
        let folder = match file.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "main.rs" | "mod.rs") => file.parent().unwrap().to_path_buf(),
            _ => file.with_extension(""),
        };
        if items.iter().any(|(k, n)| k == "mod" && n == segment) {
            let candidates = [
                folder.join(format!("{segment}.rs")),
                folder.join(segment).join("mod.rs"),
            ];
            match candidates.into_iter().find(|c| c.is_file()) {
                Some(next) => file = next,
                None => return Ok(()), // an inline module: its items are this file's
            }
            continue;
        }
        if items.iter().any(|(_, n)| n == segment) || reexported(&source).contains(*segment) {
            return Ok(());
        }
        return Err(format!("no `{segment}` in {}", relative(root, &file)));
    }
    Ok(())
}

/// The Rust paths a document names that the sources do not define.
fn undefined_items(root: &Path, text: &str, sources: &Sources) -> Vec<String> {
    let mut undefined = Vec::new();
    for span in code_spans(&split_fences(text).prose) {
        let Some(segments) = rust_path(&span) else {
            continue;
        };
        if sources.external.contains(segments[0]) {
            continue;
        }
        let roots = segments
            .iter()
            .take_while(|s| sources.local.contains_key(**s))
            .count();
        let named = &segments[roots..];
        let unknown: Vec<&str> = named
            .iter()
            .filter(|s| !sources.items.contains(**s))
            .copied()
            .collect();
        if !unknown.is_empty() {
            undefined.push(format!("{span} (not defined: {})", unknown.join(", ")));
            continue;
        }
        let start = roots
            .checked_sub(1)
            .and_then(|last| sources.local[segments[last]].as_ref());
        if let Some(start) = start {
            if let Err(why) = resolve(root, start, named) {
                undefined.push(format!("{span} ({why})"));
            }
        }
    }
    undefined
}

#[test]
fn every_rust_item_the_documents_name_is_defined() {
    let root = root();
    let sources = sources(&root);
    let mut undefined = Vec::new();
    for doc in documents(&root) {
        for u in undefined_items(&root, &read(&doc), &sources) {
            undefined.push(format!("{}: {u}", relative(&root, &doc)));
        }
    }
    assert!(
        undefined.is_empty(),
        "Rust items named but not defined:\n{}",
        undefined.join("\n")
    );
}

#[test]
fn an_undefined_rust_item_is_caught() {
    let root = root();
    let sources = sources(&root);
    let text = "\
Defined: `fitbridge::wiring::AwsPorts`, `ProviderCatalog::sync_work`,
`crate::ports::clock::Clock`, `SecretCache::read_ahead()`, `fitbridge::telemetry::metric::SIGNALS`,
`fitbridge_integration::stack_clock`, `fitbridge_admin::directory::backfill`, `std::time::Instant`.
Not Rust: `AWS::Scheduler::Schedule`, `a::b c`, `x::`.

Not defined: `OAuthStateStore::consume_for_ever`, `ProviderCatalog::sync_everything`,
`fitbridge::store::dynamodb::DynamoStore::backfill_directory`.
Moved: `fitbridge::api::oauth::handle`, `fitbridge::signals::score::activity_score`.

```rust
let ignored = fitbridge::nothing::Here;
```
";
    assert_eq!(
        undefined_items(&root, text, &sources),
        [
            "OAuthStateStore::consume_for_ever (not defined: OAuthStateStore, consume_for_ever)",
            "ProviderCatalog::sync_everything (not defined: sync_everything)",
            "fitbridge::store::dynamodb::DynamoStore::backfill_directory (not defined: backfill_directory)",
            "fitbridge::api::oauth::handle (no `api` in shared/src/lib.rs)",
            "fitbridge::signals::score::activity_score (no `signals` in shared/src/lib.rs)",
        ]
    );
}

#[test]
fn items_are_read_as_the_compiler_declares_them() {
    let source = "\
pub(crate) async fn one() {}
    pub const fn two() -> u8 { 2 }
pub const THREE: u8 = 3;
static FOUR: u8 = 4;
pub(super) struct Five<T>(T);
trait Six: Send {}
pub mod seven;
type Eight = u8;
let nine = 9;
// fn ten() in a comment
    \"fn eleven\", in a string
";
    let names: BTreeSet<String> = declared_items(source).into_iter().map(|(_, n)| n).collect();
    let expected: BTreeSet<String> = [
        "one", "two", "THREE", "FOUR", "Five", "Six", "seven", "Eight",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, expected);
    assert_eq!(
        reexported("pub use aws::{aws_config, AwsPorts};\npub use memory::MemoryPorts;"),
        [
            "AwsPorts",
            "MemoryPorts",
            "aws",
            "aws_config",
            "memory",
            "pub",
            "use"
        ]
        .map(String::from)
        .into()
    );
}

// ---- template parameters ------------------------------------------------------------------

/// The parameters of a SAM template's `Parameters:` section, each with its `Default:`
/// (`None`: it has none, so every deploy must give it).
fn template_parameters(yaml: &str) -> BTreeMap<String, Option<String>> {
    let mut parameters = BTreeMap::new();
    let mut inside = false;
    let mut current: Option<String> = None;
    for line in yaml.lines() {
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            inside = content == "Parameters:";
            current = None;
        } else if inside && indent == 2 && content.ends_with(':') {
            let name = content.trim_end_matches(':').to_owned();
            parameters.insert(name.clone(), None);
            current = Some(name);
        } else if let (true, 4, Some(name)) = (inside, indent, &current) {
            if let Some(value) = content.strip_prefix("Default:") {
                let value = value.trim();
                let unquoted = [('"', '"'), ('\'', '\'')]
                    .iter()
                    .find_map(|(a, b)| value.strip_prefix(*a)?.strip_suffix(*b))
                    .unwrap_or(value);
                parameters.insert(name.clone(), Some(unquoted.to_owned()));
            }
        }
    }
    parameters
}

/// The parameters a configuration document lists: the table rows of its
/// `## Template parameters` section whose first cell is one code span, each with its
/// second cell (the default as the document states it).
fn documented_parameters(markdown: &str) -> BTreeMap<String, String> {
    let mut rows = BTreeMap::new();
    let mut inside = false;
    for line in markdown.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            inside = heading.trim() == "Template parameters";
            continue;
        }
        if !inside || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let name = cells
            .first()
            .and_then(|c| c.strip_prefix('`')?.strip_suffix('`'))
            .filter(|n| !n.contains('`'));
        if let Some(name) = name {
            let default = cells.get(1).copied().unwrap_or("");
            rows.insert(name.to_owned(), default.to_owned());
        }
    }
    rows
}

/// Where the template and the document disagree: a parameter the document does not list,
/// one it lists that the template does not have, or a default it states otherwise (as
/// `` `value` ``, "empty" for `""`, "required" for none).
fn parameter_mismatches(
    template: &BTreeMap<String, Option<String>>,
    documented: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, default) in template {
        let Some(cell) = documented.get(name) else {
            problems.push(format!(
                "{name}: a template parameter the document does not list"
            ));
            continue;
        };
        let (agrees, expected) = match default.as_deref() {
            None => (cell.to_lowercase().contains("required"), "required".into()),
            Some("") => (cell.to_lowercase().starts_with("empty"), "empty".into()),
            Some(value) => (
                code_spans(cell).iter().any(|s| s == value),
                format!("`{value}`"),
            ),
        };
        if !agrees {
            problems.push(format!(
                "{name}: the document says {cell:?}, the template's default is {expected}"
            ));
        }
    }
    for name in documented.keys().filter(|n| !template.contains_key(*n)) {
        problems.push(format!(
            "{name}: listed, but not a parameter of the template"
        ));
    }
    problems
}

#[test]
fn the_configuration_lists_exactly_the_templates_parameters() {
    let root = root();
    let template = template_parameters(&read(&root.join("infra/template.yaml")));
    assert!(
        template.len() > 20,
        "the Parameters section was not read: {template:?}"
    );
    let documented = documented_parameters(&read(&root.join("docs/configuration.md")));
    let problems = parameter_mismatches(&template, &documented);
    assert!(
        problems.is_empty(),
        "docs/configuration.md and infra/template.yaml disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_missing_unknown_or_misstated_parameter_is_caught() {
    let template = template_parameters(
        "\
AWSTemplateFormatVersion: \"2010-09-09\"
Parameters:
  # a comment
  Kept:
    Type: String
    Default: cron(15 2 * * ? *)
  Forgotten:
    Type: Number
    Default: 5
  Blank:
    Type: String
    Default: \"\"
  Needed:
    Type: String
    Description: >-
      Default: in a description is not a default
  Changed:
    Type: String
    Default: \"on\"
Conditions:
  NotAParameter: !Equals [a, b]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
",
    );
    assert_eq!(
        template,
        BTreeMap::from([
            ("Blank".to_owned(), Some(String::new())),
            ("Changed".to_owned(), Some("on".to_owned())),
            ("Forgotten".to_owned(), Some("5".to_owned())),
            ("Kept".to_owned(), Some("cron(15 2 * * ? *)".to_owned())),
            ("Needed".to_owned(), None),
        ])
    );
    let documented = documented_parameters(
        "\
# Configuration

## Template parameters

| parameter | default | what |
|---|---|---|
| `Kept` | `cron(15 2 * * ? *)` | when |
| `Blank` | empty: nothing | blank |
| `Needed` | required | needed |
| `Changed` | `off` | stated wrong |
| `Invented` | `1` | not in the template |

## Environment variables

| `Forgotten` | `5` | a table of another section is not the list |
",
    );
    assert_eq!(
        parameter_mismatches(&template, &documented),
        [
            "Changed: the document says \"`off`\", the template's default is `on`",
            "Forgotten: a template parameter the document does not list",
            "Invented: listed, but not a parameter of the template",
        ]
    );
}

// ---- the README -----------------------------------------------------------------------------

/// What is wrong with a README: more than `max_lines` lines, or a document of `docs/` it
/// does not link.
fn readme_problems(readme: &str, max_lines: usize, docs: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let lines = readme.lines().count();
    if lines > max_lines {
        problems.push(format!("{lines} lines, more than {max_lines}"));
    }
    let targets = link_targets(&split_fences(readme).prose);
    for doc in docs {
        let path = format!("docs/{doc}");
        if !targets.iter().any(|t| t.split('#').next() == Some(&path)) {
            problems.push(format!("{path} is not linked"));
        }
    }
    problems
}

#[test]
fn the_readme_is_short_and_links_every_document() {
    let root = root();
    let problems = readme_problems(
        &read(&root.join("README.md")),
        README_MAX_LINES,
        &docs_folder(&root),
    );
    assert!(problems.is_empty(), "README.md: {}", problems.join("; "));
}

#[test]
fn a_long_readme_or_an_unlinked_document_is_caught() {
    let docs = ["architecture.md".to_owned(), "runbook.md".to_owned()];
    let long = format!(
        "{}See [the architecture](docs/architecture.md#layers).\n",
        "a line\n".repeat(README_MAX_LINES)
    );
    assert_eq!(
        readme_problems(&long, README_MAX_LINES, &docs),
        ["201 lines, more than 200", "docs/runbook.md is not linked"]
    );
    let fine = "[a](docs/architecture.md) and [b](docs/runbook.md)\n";
    assert!(readme_problems(fine, README_MAX_LINES, &docs).is_empty());
}

// ---- the markdown reader itself ---------------------------------------------------------------

#[test]
fn spans_fences_and_links_are_read_as_markdown_renders_them() {
    let text = "\
One `span`, two ``with ` inside``, one `split
over a line`, [a link](docs/x.md \"title\") and `[no link](inside.md)`.

```sh
`not a span` in a fence
```
An unmatched ` backtick is literal.
";
    let markdown = split_fences(text);
    assert_eq!(
        code_spans(&markdown.prose),
        [
            "span",
            "with ` inside",
            "split over a line",
            "[no link](inside.md)"
        ]
    );
    assert_eq!(markdown.fenced, ["`not a span` in a fence"]);
    assert_eq!(link_targets(&markdown.prose), ["docs/x.md"]);
}
