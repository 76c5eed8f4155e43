//! `openapi.yaml` and the router describe the same API.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn documented_routes() -> BTreeSet<(String, String)> {
    let document: Value =
        serde_yaml_ng::from_str(simbench::http::OPENAPI_YAML).expect("openapi.yaml is valid YAML");
    let paths = document["paths"]
        .as_mapping()
        .expect("openapi.yaml has paths");
    let mut routes = BTreeSet::new();
    for (path, operations) in paths {
        let path = path.as_str().expect("paths are strings");
        for (method, operation) in operations.as_mapping().expect("a path holds operations") {
            let method = method.as_str().expect("methods are strings");
            if METHODS.contains(&method) {
                assert!(
                    operation["responses"].is_mapping(),
                    "{method} {path} documents its responses"
                );
                routes.insert((method.to_uppercase(), path.to_owned()));
            }
        }
    }
    routes
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_routed() {
    let routed: BTreeSet<(String, String)> = simbench::http::route_table()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();
    let documented = documented_routes();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.yaml: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "openapi.yaml paths the router does not serve: {unrouted:?}"
    );
}

#[test]
fn every_operation_has_a_unique_operation_id() {
    let document: Value = serde_yaml_ng::from_str(simbench::http::OPENAPI_YAML).unwrap();
    let mut seen = BTreeSet::new();
    for (path, operations) in document["paths"].as_mapping().unwrap() {
        for (method, operation) in operations.as_mapping().unwrap() {
            if METHODS.contains(&method.as_str().unwrap()) {
                let id = operation["operationId"].as_str();
                assert!(id.is_some(), "{method:?} {path:?} has an operationId");
                assert!(
                    seen.insert(id.unwrap().to_owned()),
                    "operationId {id:?} is unique"
                );
            }
        }
    }
}
