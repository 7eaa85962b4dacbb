//! The documentation stays true: every shell block marked `<!-- docs-test: local-server -->` runs
//! (bash, `set -euo pipefail`) against a fresh local server and must succeed; every repository path
//! and `make` target the docs name exists; every link between the docs resolves; and the user
//! documentation names no issue numbers (history belongs in commit messages and BENCHMARKS.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use backorder_tests::TestApp;

const MARK: &str = "<!-- docs-test: local-server -->";
/// The address the docs use for `make dev`; the test runs them against its own server.
const DOCS_ADDRESS: &str = "http://127.0.0.1:3000";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// README.md and every page under docs/, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    let mut paths = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The shell blocks that follow the marker.
fn marked_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(MARK) {
        rest = &rest[i + MARK.len()..];
        let start = rest.find("```sh\n").expect("a ```sh block after the mark") + 6;
        let end = rest[start..].find("\n```").expect("the block's end") + start;
        blocks.push(rest[start..end].to_owned());
        rest = &rest[end..];
    }
    blocks
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_commands_run_against_the_local_server() {
    let mut ran = 0;
    for (path, text) in pages() {
        for block in marked_blocks(&text) {
            // A fresh server and table for each block, as a reader starting `make dev` has.
            let app = TestApp::new().await;
            let (addr, task) =
                backorder_local::server::start(app.store.clone(), "127.0.0.1:0".parse().unwrap())
                    .await
                    .unwrap();
            let script = format!(
                "set -euo pipefail\n{}\n",
                block.replace(DOCS_ADDRESS, &format!("http://{addr}"))
            );
            let out = tokio::task::spawn_blocking(move || {
                // From the repository root, where a reader runs them.
                Command::new("bash")
                    .arg("-c")
                    .arg(script)
                    .current_dir(root())
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            task.abort();
            assert!(
                out.status.success(),
                "a command of {} failed:\nstdout:\n{}\nstderr:\n{}",
                path.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 1, "no marked block found");
}

/// Backticked words that look like repository paths (`dir/.../file.ext`, `dir/`).
fn paths_named(text: &str) -> Vec<String> {
    const TOP: &[&str] = &[
        "shared/",
        "functions/",
        "tests/",
        "local/",
        "bench/",
        "events/",
        "scripts/",
        "docs/",
    ];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| TOP.iter().any(|t| w.starts_with(t)))
        .filter(|w| !w.contains(['<', '{', '*', ' ', '$']))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_path_and_make_target_the_docs_name_exists() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let targets: Vec<&str> = makefile
        .lines()
        .filter_map(|l| l.split_once(':').map(|(t, _)| t))
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    let mut missing = Vec::new();
    for (page, text) in pages() {
        for path in paths_named(&text) {
            if !root().join(&path).exists() {
                missing.push(format!("{}: {path}", page.display()));
            }
        }
        for word in text.split("`make ").skip(1) {
            let target: String = word
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            if !target.is_empty() && !targets.contains(&target.as_str()) {
                missing.push(format!("{}: make {target}", page.display()));
            }
        }
    }
    assert!(missing.is_empty(), "named but missing: {missing:#?}");
}

#[test]
fn every_link_between_the_docs_resolves() {
    let mut broken = Vec::new();
    for (page, text) in pages() {
        let dir = page.parent().unwrap().to_owned();
        for link in text.split("](").skip(1) {
            let target = &link[..link.find(')').unwrap_or(0)];
            if target.starts_with("http") || target.is_empty() {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let file = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            // Any file (a screenshot too); its headings only when the link names one.
            let Ok(bytes) = std::fs::read(&file) else {
                broken.push(format!("{}: {target}", page.display()));
                continue;
            };
            let body = String::from_utf8_lossy(&bytes);
            if !anchor.is_empty() && !anchors(&body).iter().any(|a| a == anchor) {
                broken.push(format!("{}: {target} (no such heading)", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

/// GitHub's anchors of a page's headings.
fn anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
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
fn user_documentation_names_no_issue_numbers() {
    let mut found = Vec::new();
    for (page, text) in pages() {
        for (n, line) in text.lines().enumerate() {
            let bytes = line.as_bytes();
            let numbered = bytes.windows(2).enumerate().any(|(i, w)| {
                w[0] == b'#' && w[1].is_ascii_digit() && (i == 0 || bytes[i - 1] != b'&')
            });
            if numbered && !line.trim_start().starts_with("```") {
                found.push(format!("{}:{}: {line}", page.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "issue numbers in the docs: {found:#?}");
}
