//! Every constraint of the schema stands for a client error: a request that trips one (a race, a
//! check validation missed) answers 4xx, never 500. A constraint added without a mapping in
//! `store::violation` fails here.

mod common;

use simbench::http::error::ApiError;

#[tokio::test]
async fn every_constraint_and_unique_index_maps_to_a_client_error() {
    let app = common::TestApp::spawn().await;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.conname::text FROM pg_constraint c
         JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = 'public' AND c.conrelid <> '_sqlx_migrations'::regclass
         UNION
         SELECT i.indexrelid::regclass::text FROM pg_index i
         JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND i.indisunique
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
         ORDER BY 1",
    )
    .fetch_all(&app.db)
    .await
    .expect("the catalogue answers");
    assert!(
        names.iter().any(|name| name == "benchmarks_name_key")
            && names
                .iter()
                .any(|name| name == "representations_identity_key"),
        "the query sees constraints and unique indexes: {names:?}"
    );
    let unmapped: Vec<&String> = names
        .iter()
        .filter(|name| {
            simbench::store::violation(name)
                .map(ApiError::from)
                .is_none_or(|error| !error.status().is_client_error())
        })
        .collect();
    assert!(
        unmapped.is_empty(),
        "these constraints would answer 500; map them in store::violation: {unmapped:?}"
    );
}

/// A registration that slips past the handler's checks (a race between two identical ones, or a
/// name validation missed) still answers the client error the constraint stands for.
#[tokio::test]
async fn external_metric_constraints_answer_conflict_and_unprocessable() {
    let app = common::TestApp::spawn().await;
    let insert = |name: &'static str| {
        sqlx::query(
            "INSERT INTO external_metrics (name, description, is_symmetric) VALUES ($1, 'd', true)",
        )
        .bind(name)
        .execute(&app.db)
    };
    insert("ext:twice").await.expect("the first registration");
    let cases = [
        ("ext:twice", 409, "metric_exists"),
        ("not-prefixed", 422, "constraint_violated"),
    ];
    for (name, status, code) in cases {
        let error = insert(name).await.expect_err("the constraint refuses it");
        let answer = ApiError::from(simbench::store::StoreError::from(error));
        assert_eq!(
            (answer.status().as_u16(), answer.code()),
            (status, code),
            "{name}"
        );
    }
}
