//! The docs stand alone (issue 23): README is short and starts with the two
//! commands a newcomer needs; every endpoint the router serves is in
//! docs/api.md; every link in the docs resolves inside the repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `METHOD /path` the server's two routers match, read from their
/// source: `http/mod.rs`'s `(&Method::GET, "/healthz")` arms and
/// `http/api/mod.rs`'s `(&M::GET, ["firms", firm, "members"])` arms (an
/// arm of any method lists its methods on the lines after it).
fn routes() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in read("src/http/mod.rs").lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("(&Method::")
            && let Some((method, rest)) = rest.split_once(", \"")
            && let Some((path, _)) = rest.split_once('"')
        {
            out.insert(format!("{method} {path}"));
        }
    }
    let api = read("src/http/api/mod.rs");
    let lines: Vec<&str> = api.lines().map(str::trim).collect();
    for (at, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix('(') else {
            continue;
        };
        let Some((method, rest)) = rest.split_once(", [") else {
            continue;
        };
        let Some((parts, _)) = rest.split_once("])") else {
            continue;
        };
        let path: Vec<String> = parts
            .split(", ")
            .map(|part| match part.strip_prefix('"') {
                Some(literal) => literal.trim_end_matches('"').to_owned(),
                None => format!("{{{part}}}"),
            })
            .collect();
        let path = format!("/api/v1/{}", path.join("/"));
        match method.strip_prefix("&M::") {
            Some(method) => {
                out.insert(format!("{method} {path}"));
            }
            None => {
                // `(_, [...]) => { … M::GET => …, M::PUT => … }`
                for next in &lines[at + 1..] {
                    if next.starts_with('(') {
                        break;
                    }
                    if let Some(rest) = next.strip_prefix("M::")
                        && let Some((method, _)) = rest.split_once(" =>")
                    {
                        out.insert(format!("{method} {path}"));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_endpoint_the_router_serves_is_in_docs_api_md() {
    let routes = routes();
    // The parse found the routers, not nothing.
    assert!(routes.len() >= 40, "{routes:#?}");
    assert!(routes.contains("PATCH /api/v1/firms/{firm}/projects/{project}"));
    assert!(routes.contains("POST /webhook"));
    let doc = read("docs/api.md");
    let missing: Vec<_> = routes
        .iter()
        .filter(|route| !doc.contains(&format!("`{route}")))
        .collect();
    assert!(missing.is_empty(), "not in docs/api.md: {missing:#?}");
}

/// The Markdown files a user's clone has.
fn docs() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("README.md"),
        root().join("ARCHITECTURE.md"),
        root().join("tests/fixtures/payloads/README.md"),
    ];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_link_in_the_docs_resolves_inside_the_repository() {
    let mut bad = Vec::new();
    let mut links = 0;
    for file in docs() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            links += 1;
            let name = file.strip_prefix(root()).unwrap().display().to_string();
            if target.contains("://") || target.starts_with("mailto:") {
                bad.push(format!("{name}: {target} points outside the repository"));
                continue;
            }
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() {
                continue;
            }
            if !file.parent().unwrap().join(path).exists() {
                bad.push(format!("{name}: {target} does not exist"));
            }
        }
        // The design document is not part of a clone.
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if text.contains("DESIGN section") || text.contains("DESIGN §") {
            bad.push(format!("{name}: names a design document users do not have"));
        }
    }
    assert!(links >= 20, "{links} links found");
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_readme_is_short_and_starts_with_the_two_commands() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(lines <= 300, "README.md has {lines} lines");
    let first_block = readme.split("```").nth(1).expect("a code block");
    assert!(
        first_block.contains("cargo run --release -- serve --dev"),
        "{first_block}"
    );
    assert!(first_block.contains("cargo test"), "{first_block}");
    let before: usize = readme.split("```").next().unwrap().lines().count();
    assert!(
        before <= 8,
        "the two commands come first, not after {before} lines"
    );
}

/// docs/operations.md's variable tables are checked against the one list
/// of variables the server reads (`firmhook::config::VARIABLES`), defaults
/// included, and `serve --print-config` prints each setting.
#[test]
fn the_variable_tables_match_the_configuration() {
    let doc = read("docs/operations.md");
    let mut bad = Vec::new();
    for variable in firmhook::config::VARIABLES {
        let cell = format!("`{}`", variable.name);
        if !doc.contains(&cell) {
            bad.push(format!("{} is not in docs/operations.md", variable.name));
            continue;
        }
        let row = doc.lines().find(|l| l.starts_with(&format!("| {cell}")));
        if let Some(row) = row
            && !variable.default.is_empty()
            && !row.contains(variable.default)
        {
            bad.push(format!(
                "{}: the default is {:?}: {row}",
                variable.name, variable.default
            ));
        }
    }
    // And no table row names a variable the server does not read.
    for row in doc
        .lines()
        .filter(|l| l.starts_with("| `FIRMHOOK_") || l.starts_with("| `WHATSAPP_"))
    {
        let name = row[3..].split('`').next().unwrap_or("");
        if !firmhook::config::VARIABLES.iter().any(|v| v.name == name) {
            bad.push(format!(
                "docs/operations.md has {name}, which the server does not read"
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");

    let out = crate::support::firmhook(&[
        "serve",
        "--dev",
        "--print-config",
        "--db",
        "/nonexistent/x.redb",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::support::stderr(&out)
    );
    let printed = crate::support::stdout(&out);
    for name in [
        "FIRMHOOK_DB",
        "FIRMHOOK_MAX_CONN_PER_IP",
        "WHATSAPP_PHONE_NUMBER_ID",
    ] {
        assert!(printed.contains(name), "{printed}");
    }
    assert!(
        !printed.contains("dev-admin"),
        "a secret was printed: {printed}"
    );
    assert!(
        printed.contains("FIRMHOOK_ADMIN_TOKEN                     (set)"),
        "{printed}"
    );
    assert!(!std::path::Path::new("/nonexistent/x.redb").exists());
}
