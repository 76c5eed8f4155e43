//! The repository stands alone: no file may point at a folder beside the checkout, which a
//! user's clone does not have. Golden data lives in `tests/fixtures/`, definitions in `docs/`.

use std::path::{Path, PathBuf};

/// Folders that are not the project's own text: build output, VCS data, virtual environments.
const SKIPPED: &[&str] = &["target", ".git", ".venv", "node_modules", "__pycache__"];

fn project_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the checkout is readable") {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        let name = entry.file_name();
        if SKIPPED.iter().any(|skipped| name == *skipped) {
            continue;
        }
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            project_files(&path, files);
        } else if kind.is_file() {
            files.push(path);
        }
    }
}

#[test]
fn no_file_refers_to_a_folder_outside_the_repository() {
    // Spelled in two halves so that this file does not match itself.
    let outside = ["..", "/shared"].concat();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    project_files(root, &mut files);
    assert!(
        files.iter().any(|file| file.ends_with("Cargo.toml")),
        "the walk found the project's files"
    );
    let offenders: Vec<String> = files
        .iter()
        .filter_map(|file| {
            // Binary files (fixtures' .npy) cannot name a path in a way a tool follows.
            let text = std::fs::read_to_string(file).ok()?;
            text.lines()
                .position(|line| line.contains(&outside))
                .map(|line| format!("{}:{}", file.display(), line + 1))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "these files refer to {outside}, which a clone does not have (copy the data into tests/fixtures/): {offenders:?}"
    );
}
