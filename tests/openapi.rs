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

/// Every operation of openapi.yaml, named `METHOD /path`.
fn operations() -> Vec<(String, Value)> {
    let document: Value = serde_yaml_ng::from_str(simbench::http::OPENAPI_YAML).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if METHODS.contains(&method) {
                operations.push((
                    format!("{} {}", method.to_uppercase(), path.as_str().unwrap()),
                    operation.clone(),
                ));
            }
        }
    }
    operations
}

fn documents(operation: &Value, status: &str, response: &str) -> bool {
    operation["responses"][status]["$ref"].as_str()
        == Some(&format!("#/components/responses/{response}"))
}

#[test]
fn protected_operations_document_401_403_and_429_and_bodies_413_and_415() {
    let document: Value = serde_yaml_ng::from_str(simbench::http::OPENAPI_YAML).unwrap();
    for response in [
        "Unauthorized",
        "Forbidden",
        "RateLimited",
        "PayloadTooLarge",
        "UnsupportedMediaType",
    ] {
        assert!(
            document["components"]["responses"][response].is_mapping(),
            "components/responses/{response} exists"
        );
    }
    let mut protected = 0;
    let mut with_body = 0;
    for (name, operation) in operations() {
        let open = operation["security"]
            .as_sequence()
            .is_some_and(|schemes| schemes.is_empty());
        if !open {
            protected += 1;
            for (status, response) in [
                ("401", "Unauthorized"),
                ("403", "Forbidden"),
                ("429", "RateLimited"),
            ] {
                assert!(
                    documents(&operation, status, response),
                    "{name} documents {status} through components/responses/{response}"
                );
            }
        }
        if operation["requestBody"].is_mapping() {
            with_body += 1;
            for (status, response) in [("413", "PayloadTooLarge"), ("415", "UnsupportedMediaType")]
            {
                assert!(
                    documents(&operation, status, response),
                    "{name} documents {status} through components/responses/{response}"
                );
            }
        }
    }
    assert!(
        protected > 30 && with_body > 10,
        "{protected} protected, {with_body} with a body"
    );
}

/// Open operations are exactly the ones the access rules leave open.
#[test]
fn only_probes_and_this_document_are_open() {
    let open: BTreeSet<String> = operations()
        .into_iter()
        .filter(|(_, operation)| {
            operation["security"]
                .as_sequence()
                .is_some_and(|schemes| schemes.is_empty())
        })
        .map(|(name, _)| name)
        .collect();
    let expected: BTreeSet<String> = ["GET /healthz", "GET /readyz", "GET /openapi.yaml"]
        .map(str::to_owned)
        .into();
    assert_eq!(open, expected);
}

#[test]
fn the_document_states_its_own_media_type() {
    let openapi = operations()
        .into_iter()
        .find(|(name, _)| name == "GET /openapi.yaml")
        .expect("GET /openapi.yaml is documented")
        .1;
    assert!(
        openapi["responses"]["200"]["content"]["application/yaml"].is_mapping(),
        "{openapi:?}"
    );
}
