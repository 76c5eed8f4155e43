//! No module imports one that imports it back: the top-level modules of `src/` (`http`, `store`,
//! `metrics`, ...) form a directed acyclic graph. An edge A -> B is a path `crate::B` (also inside
//! `use crate::{...}` groups) or a `super::` chain that climbs out of A to B, anywhere in A's files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Who imports whom: for each module, the modules it names and the files that name them.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// The top-level modules: `src/NAME.rs` and `src/NAME/`, not the crate roots.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .expect("src/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_owned();
            let module = path.is_dir() || path.extension().is_some_and(|ext| ext == "rs");
            (module && stem != "lib" && stem != "main").then_some(stem)
        })
        .collect()
}

/// The text without `//` comments, so that a doc comment naming a path is no import.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn leading_identifier(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(|c| !is_identifier_char(c)).unwrap_or(text.len());
    &text[..end]
}

/// The first segment of every item of a `{...}` group that starts `group`, and nothing when
/// `group` does not start with a brace.
fn group_heads(group: &str) -> Vec<&str> {
    let Some(inner) = group.strip_prefix('{') else {
        return vec![leading_identifier(group)];
    };
    let mut heads = Vec::new();
    let (mut depth, mut item_start) = (0usize, 0);
    for (offset, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                heads.push(leading_identifier(&inner[item_start..offset]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(leading_identifier(&inner[item_start..offset]));
                item_start = offset + 1;
            }
            _ => {}
        }
    }
    heads
}

/// The modules of the crate root a file's code names: `crate::NAME` paths and `super::` chains
/// longer than the file's depth below its top-level module.
fn named_root_modules(code: &str, depth: usize) -> Vec<&str> {
    let mut names = Vec::new();
    for (start, _) in code.match_indices("crate::") {
        let preceded_by = code[..start].chars().next_back();
        if preceded_by.is_some_and(|c| is_identifier_char(c) || c == '$') {
            continue;
        }
        names.extend(group_heads(&code[start + "crate::".len()..]));
    }
    for (start, _) in code.match_indices("super::") {
        let preceded_by = code[..start].chars().next_back();
        if preceded_by.is_some_and(|c| is_identifier_char(c) || c == ':') {
            continue;
        }
        let mut rest = &code[start..];
        let mut climbs = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = after;
        }
        if climbs > depth {
            names.extend(group_heads(rest));
        }
    }
    names
}

fn import_graph(src: &Path) -> Graph {
    let modules = top_level_modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("a file under src/");
        let components: Vec<&str> = relative
            .iter()
            .map(|part| part.to_str().expect("UTF-8 file names"))
            .collect();
        let module = match components.as_slice() {
            [root] if *root == "lib.rs" || *root == "main.rs" => continue,
            [single] => single.trim_end_matches(".rs"),
            [directory, ..] => directory,
            [] => continue,
        };
        // `super::` in src/a.rs and src/a/mod.rs already reaches the crate root; each folder
        // below adds a level, and a `mod.rs` stands for its folder.
        let nested_files = components.len() - 1;
        let depth = nested_files - usize::from(components.last() == Some(&"mod.rs"));
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for named in named_root_modules(&code_of(&text), depth) {
            if named != module && modules.contains(named) {
                graph
                    .entry(module.to_owned())
                    .or_default()
                    .entry(named.to_owned())
                    .or_default()
                    .insert(relative.display().to_string());
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct Search<'a> {
        graph: &'a Graph,
        next_index: usize,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        components: Vec<BTreeSet<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, module: &'a str) {
            self.index.insert(module, self.next_index);
            self.low.insert(module, self.next_index);
            self.next_index += 1;
            self.stack.push(module);
            let graph = self.graph;
            for next in graph.get(module).into_iter().flat_map(BTreeMap::keys) {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[module].min(self.low[next]);
                    self.low.insert(module, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[module].min(self.index[next]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == self.index[module] {
                let mut component = BTreeSet::new();
                while let Some(member) = self.stack.pop() {
                    component.insert(member.to_owned());
                    if member == module {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.components.push(component);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        next_index: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        components: Vec::new(),
    };
    for module in graph.keys() {
        if !search.index.contains_key(module.as_str()) {
            search.visit(module);
        }
    }
    search.components
}

#[test]
fn top_level_modules_form_a_dag() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    assert!(
        graph
            .get("http")
            .is_some_and(|named| named.contains_key("store")),
        "the scan sees the imports it is meant to see (http uses store)"
    );
    let offending: Vec<String> = cycles(&graph)
        .into_iter()
        .map(|component| {
            let edges: Vec<String> = component
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|(to, _)| component.contains(*to))
                        .map(move |(to, files)| format!("{from} -> {to} in {files:?}"))
                })
                .collect();
            edges.join("; ")
        })
        .collect();
    assert!(
        offending.is_empty(),
        "these top-level modules import each other: {offending:#?}"
    );
}

#[test]
fn the_scan_reads_groups_and_super_chains() {
    let code = "use crate::{store::{self, x}, http::error::ApiError};\n\
                use super::super::worker::Pool;\n\
                use super::sibling;\n\
                $crate::ignored::path; not_crate::ignored;";
    assert_eq!(named_root_modules(code, 1), vec!["store", "http", "worker"]);
    assert_eq!(
        named_root_modules(code, 0),
        vec!["store", "http", "worker", "sibling"]
    );
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph
            .entry(from.to_owned())
            .or_default()
            .entry(to.to_owned())
            .or_default();
    }
    let abc: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    assert_eq!(cycles(&graph), vec![abc]);
}
