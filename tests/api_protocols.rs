//! The grounding tests of docs/PROTOCOLS.md end to end through the API, against the golden
//! results in `tests/fixtures/protocols/` (see its README): models with metadata and outputs,
//! their representations, benchmarks whose y comes from the outputs, permutation p-values, and
//! what changed outputs do to a benchmark.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use common::{TestApp, expect_problem, expect_status, wait_for_benchmark};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/protocols");
const DATASET: &str = "protocols";

fn fixture() -> Value {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("protocols.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture_file(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(name)).unwrap()
}

/// The fixture study in the service: each model with its metadata and outputs, each
/// representation at its layer. Returns the service id of each model name.
async fn load_study(app: &TestApp, fixture: &Value) -> HashMap<String, i64> {
    let mut models = HashMap::new();
    for model in fixture["models"].as_array().unwrap() {
        let name = model["name"].as_str().unwrap().to_owned();
        let created = expect_status(
            app.post_json(
                "/v1/models",
                &json!({"name": name, "metadata": model["metadata"], "tags": []}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        models.insert(name, created["id"].as_i64().unwrap());
    }
    for representation in fixture["representations"].as_array().unwrap() {
        let model = models[representation["model"].as_str().unwrap()];
        let layer = representation["layer"].as_i64().unwrap() as i32;
        let npy = fixture_file(representation["file"].as_str().unwrap());
        app.upload(model, DATASET, layer, npy).await;
    }
    for model in fixture["models"].as_array().unwrap() {
        let id = models[model["name"].as_str().unwrap()];
        let npy = fixture_file(model["outputs"].as_str().unwrap());
        expect_status(
            app.put_bytes(&outputs_path(id), npy).await,
            StatusCode::CREATED,
        )
        .await;
    }
    models
}

fn outputs_path(model: i64) -> String {
    format!("/v1/models/{model}/outputs?dataset={DATASET}")
}

/// The definition of fixture case `case` over its models (every model when it names none), as a
/// client sends it.
fn definition(fixture: &Value, case: &str, models: &HashMap<String, i64>) -> Value {
    let expected = &fixture["results"][case];
    let select = match expected["models"].as_array() {
        Some(names) => {
            let selected: Vec<i64> = names
                .iter()
                .map(|name| models[name.as_str().unwrap()])
                .collect();
            json!({"models": selected})
        }
        None => json!({}),
    };
    json!({
        "name": case, "dataset": DATASET, "select": select,
        "protocol": expected["protocol"], "functional": expected["functional"],
        "permutation": expected["permutation"], "metrics": fixture["metrics"],
    })
}

async fn results_of(app: &TestApp, body: &Value) -> (Value, Value) {
    let created = expect_status(
        app.post_json("/v1/benchmarks", body).await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let state = wait_for_benchmark(app, id).await;
    assert_eq!(state["status"], "done", "{state}");
    let results = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    (created, results)
}

fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {value}"))
}

fn close(got: &Value, want: &Value, tolerance: f64, what: &str) {
    let (got, want) = (number(got, what), number(want, what));
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want} (tolerance {tolerance})"
    );
}

/// A random-permutation p-value is right within 4 standard errors of the 200 000-permutation
/// reference p at the service's R resamples (tests/fixtures/README.md).
fn within_standard_errors(got: &Value, want: &Value, resamples: f64, what: &str) {
    let (got, want) = (number(got, what), number(want, what));
    let q = (want / 2.0).min(0.5);
    let standard_error = 2.0 * (q * (1.0 - q) / resamples).sqrt();
    assert!(
        (got - want).abs() <= 4.0 * standard_error,
        "{what}: got {got}, want {want} within 4 x {standard_error}"
    );
}

fn keys(object: &Value) -> BTreeSet<&str> {
    object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// PROTOCOLS "Result keys" for the correlation protocols with `permutation`.
const GROUP_KEYS: [&str; 13] = [
    "group",
    "n_pairs",
    "spearman",
    "spearman_p",
    "kendall",
    "kendall_p",
    "pearson",
    "pearson_p",
    "bad_frac",
    "spearman_permutation_p",
    "kendall_permutation_p",
    "pearson_permutation_p",
    "permutation_exact",
];
const METRIC_KEYS: [&str; 4] = ["spearman", "kendall", "pearson", "groups"];

fn check_correlation_case(fixture: &Value, case: &str, results: &Value) {
    let value_tolerance = number(&fixture["tolerance"]["value"], "value tolerance");
    let exact_tolerance = number(&fixture["tolerance"]["exact_p"], "exact p tolerance");
    let expected = &fixture["results"][case];
    let resamples = number(&expected["permutation"]["resamples"], "resamples");
    for metric in fixture["metrics"].as_array().unwrap() {
        let metric = metric.as_str().unwrap();
        let (got, want) = (&results["metrics"][metric], &expected["metrics"][metric]);
        let missing: Vec<&str> = METRIC_KEYS
            .iter()
            .copied()
            .filter(|key| !keys(got).contains(key))
            .collect();
        assert!(missing.is_empty(), "{case} {metric} lacks {missing:?}");
        for statistic in ["spearman", "kendall", "pearson"] {
            let what = format!("{case} {metric} mean {statistic}");
            close(&got[statistic], &want[statistic], value_tolerance, &what);
        }
        let (got_groups, want_groups) = (
            got["groups"].as_array().unwrap(),
            want["groups"].as_array().unwrap(),
        );
        assert_eq!(got_groups.len(), want_groups.len(), "{case} {metric}");
        for (got, want) in got_groups.iter().zip(want_groups) {
            let group = want["group"].as_str().unwrap();
            let what = |statistic: &str| format!("{case} {metric} group {group} {statistic}");
            assert_eq!(got["group"].to_string(), group, "{}", what("label"));
            let missing: Vec<&str> = GROUP_KEYS
                .iter()
                .copied()
                .filter(|key| !keys(got).contains(key))
                .collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", what("keys"));
            assert_eq!(got["n_pairs"], want["n_pairs"], "{}", what("n_pairs"));
            for statistic in ["spearman", "kendall", "pearson"] {
                close(
                    &got[statistic],
                    &want[statistic],
                    value_tolerance,
                    &what(statistic),
                );
            }
            let exact = want["permutation_exact"].as_bool().unwrap();
            assert_eq!(
                got["permutation_exact"],
                json!(exact),
                "{}",
                what("permutation_exact")
            );
            for statistic in ["spearman", "kendall", "pearson"] {
                let key = format!("{statistic}_permutation_p");
                if exact {
                    close(&got[&key], &want[&key], exact_tolerance, &what(&key));
                } else {
                    within_standard_errors(&got[&key], &want[&key], resamples, &what(&key));
                }
            }
        }
    }
}

#[tokio::test]
async fn correlation_cases_with_outputs_and_permutations_give_the_golden_results() {
    let app = TestApp::spawn_with_workers(2).await;
    let fixture = fixture();
    let models = load_study(&app, &fixture).await;
    for case in ["corr_disagreement", "corr_jsd", "corr_exact"] {
        let body = definition(&fixture, case, &models);
        let (created, results) = results_of(&app, &body).await;
        assert_eq!(
            created["functional"],
            fixture["results"][case]["functional"]
        );
        assert_eq!(created["score"], Value::Null);
        assert_eq!(
            created["permutation"],
            json!({"resamples": 9999, "seed": 0}),
            "the seed defaults to 0"
        );
        check_correlation_case(&fixture, case, &results);
        // Stored once complete, the results read back the same.
        let id = created["id"].as_i64().unwrap();
        let again = expect_status(
            app.get(&format!("/v1/benchmarks/{id}/results")).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(again, results, "{case}");
    }
}

/// A figure that the fixture gives as a number or as null (undefined).
fn close_or_null(got: &Value, want: &Value, tolerance: f64, what: &str) {
    if want.is_null() {
        assert!(got.is_null(), "{what}: got {got}, want null");
    } else {
        close(got, want, tolerance, what);
    }
}

/// The checks every kind's case shares: the results' `kind` and `statistic`, each metric's
/// `figures` (its means) against the case's, and its groups one by one against the case's with
/// `check_group(metric, got, want)`, the group's `figures` compared already.
fn check_case(
    fixture: &Value,
    case: &str,
    results: &Value,
    (kind, statistic): (&str, &str),
    figures: &[&str],
    mut check_group: impl FnMut(&str, &Value, &Value),
) {
    let tolerance = number(&fixture["tolerance"]["value"], "value tolerance");
    let expected = &fixture["results"][case];
    assert_eq!(results["kind"], kind);
    assert_eq!(results["statistic"], statistic);
    for metric in fixture["metrics"].as_array().unwrap() {
        let metric = metric.as_str().unwrap();
        let (got, want) = (&results["metrics"][metric], &expected["metrics"][metric]);
        for key in figures {
            let what = format!("{case} {metric} mean {key}");
            close_or_null(&got[key], &want[key], tolerance, &what);
        }
        let (got_groups, want_groups) = (
            got["groups"].as_array().unwrap(),
            want["groups"].as_array().unwrap(),
        );
        assert_eq!(got_groups.len(), want_groups.len(), "{case} {metric}");
        for (got, want) in got_groups.iter().zip(want_groups) {
            for key in figures {
                let what = format!("{case} {metric} group {} {key}", want["group"]);
                close_or_null(&got[key], &want[key], tolerance, &what);
            }
            check_group(metric, got, want);
        }
    }
}

fn check_separation_case(fixture: &Value, results: &Value) {
    let tolerance = number(&fixture["tolerance"]["value"], "value tolerance");
    let figures = ["auprc", "violation_rate"];
    check_case(
        fixture,
        "separation_cls",
        results,
        ("separation", "auprc"),
        &figures,
        |metric, got, want| {
            let group = want["group"].as_str().unwrap();
            assert_eq!(got["group"].to_string(), group, "{metric} group label");
            let (got_classes, want_classes) = (
                got["classes"].as_array().unwrap(),
                want["classes"].as_array().unwrap(),
            );
            assert_eq!(got_classes.len(), want_classes.len(), "{metric} {group}");
            for (got, want) in got_classes.iter().zip(want_classes) {
                let what =
                    |key: &str| format!("{metric} group {group} class {} {key}", want["class"]);
                for key in ["class", "n_in", "n_cross"] {
                    assert_eq!(got[key], want[key], "{}", what(key));
                }
                for key in ["auprc", "violation_rate", "chance"] {
                    close_or_null(&got[key], &want[key], tolerance, &what(key));
                }
            }
        },
    );
}

fn check_monotonicity_case(fixture: &Value, models: &HashMap<String, i64>, results: &Value) {
    check_case(
        fixture,
        "monotonicity",
        results,
        ("monotonicity", "correlation"),
        &["correlation", "violation_rate"],
        |metric, got, want| {
            let name = want["group"].as_str().unwrap();
            assert_eq!(got["group"], want["group"], "{metric} model name");
            assert_eq!(got["model"], json!(models[name]), "{metric} {name} id");
            let layers = (&got["n_layers"], &want["n_layers"]);
            assert_eq!(layers.0, layers.1, "{metric} {name} n_layers");
        },
    );
}

#[tokio::test]
async fn separation_and_monotonicity_give_the_golden_results() {
    let app = TestApp::spawn_with_workers(2).await;
    let fixture = fixture();
    let models = load_study(&app, &fixture).await;

    let (created, separation) =
        results_of(&app, &definition(&fixture, "separation_cls", &models)).await;
    assert_eq!(created["functional"], Value::Null);
    assert_eq!(created["score"], Value::Null);
    assert_eq!(created["n_representations"], 24);
    check_separation_case(&fixture, &separation);
    let id = created["id"].as_i64().unwrap();
    let again = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        again, separation,
        "stored once complete, read back the same"
    );
    // The points behind a group: y = 1 across classes, 0 within one; cka is symmetric, so each
    // of the 6 x 5 / 2 unordered pairs of layer 0 once.
    let pairs = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/pairs?metric=cka&group=0"))
            .await,
        StatusCode::OK,
    )
    .await;
    let rows = pairs["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 15);
    let within = rows.iter().filter(|row| row["y"] == json!(0.0)).count();
    assert_eq!(within, 3, "one in-class pair per class of two models");
    let csv = app
        .get(&format!("/v1/benchmarks/{id}/results?format=csv"))
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("benchmark,metric,group,class,n_in,n_cross,auprc,violation_rate,chance")
    );
    // 3 metrics x 4 layers x 3 classes.
    assert_eq!(lines.count(), 36);

    let (created, monotonicity) =
        results_of(&app, &definition(&fixture, "monotonicity", &models)).await;
    check_monotonicity_case(&fixture, &models, &monotonicity);
    let id = created["id"].as_i64().unwrap();
    // pwcca is not symmetric: both orders of each of m0's 6 layer pairs, its layers in depth
    // order.
    let pairs = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/pairs?metric=pwcca&group=m0"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pairs["rows"].as_array().unwrap().len(), 12);
    let layers: Vec<i64> = pairs["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["layer"].as_i64().unwrap())
        .collect();
    assert_eq!(layers, [0, 1, 2, 3]);
    let farthest = pairs["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| number(&row["y"], "layers apart"))
        .fold(0.0, f64::max);
    assert_eq!(farthest, 3.0);

    // Both on the leaderboard, each column ranking by its own statistic.
    for id in [
        separation["benchmark"].clone(),
        monotonicity["benchmark"].clone(),
    ] {
        expect_status(
            app.post_json(&format!("/v1/benchmarks/{id}/publish"), &json!({}))
                .await,
            StatusCode::OK,
        )
        .await;
    }
    let board = expect_status(app.get("/v1/leaderboard").await, StatusCode::OK).await;
    let statistics: Vec<&Value> = board["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| &column["statistic"])
        .collect();
    assert_eq!(statistics, [&json!("auprc"), &json!("correlation")]);
    let pwcca = board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["metric"] == "pwcca")
        .unwrap();
    let want = &fixture["results"]["separation_cls"]["metrics"]["pwcca"]["auprc"];
    close(
        &pwcca["cells"][0]["value"],
        want,
        1e-9,
        "pwcca's AUPRC cell",
    );
    assert_eq!(pwcca["cells"][0]["spearman"], Value::Null);
}

#[tokio::test]
async fn separation_and_monotonicity_refuse_what_they_do_not_read() {
    let app = TestApp::spawn().await;
    let fixture = fixture();
    let models = load_study(&app, &fixture).await;
    let separation = json!({"kind": "separation", "by": "cls", "group_by": "layer"});
    let base = |protocol: &Value| json!({"name": "b", "dataset": DATASET, "protocol": protocol, "metrics": ["cka"]});
    let with = |protocol: &Value, key: &str, value: Value| {
        let mut body = base(protocol);
        body[key] = value;
        body
    };
    let monotonicity = json!({"kind": "monotonicity"});
    let refused = [
        (
            with(&separation, "score", json!("acc")),
            "invalid_functional",
        ),
        (
            with(&monotonicity, "functional", json!({"kind": "jsd"})),
            "invalid_functional",
        ),
        (
            with(&separation, "bootstrap", json!({"resamples": 100})),
            "invalid_bootstrap",
        ),
        (
            with(&monotonicity, "permutation", json!({"resamples": 100})),
            "invalid_permutation",
        ),
        (
            base(&json!({"kind": "separation", "by": "architecture", "group_by": "layer"})),
            "no_class",
        ),
    ];
    for (body, code) in refused {
        expect_problem(
            app.post_json("/v1/benchmarks", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
        )
        .await;
    }
    for protocol in [
        json!({"kind": "separation", "by": "cls", "group_by": "cls"}),
        json!({"kind": "separation", "by": "", "group_by": "layer"}),
        json!({"kind": "separation", "group_by": "layer"}),
        json!({"kind": "monotonicity", "group_by": "layer"}),
    ] {
        let response = app.post_json("/v1/benchmarks", &base(&protocol)).await;
        assert!(
            response.status().is_client_error(),
            "{protocol}: {}",
            response.status()
        );
    }
    let listed = expect_status(app.get("/v1/benchmarks").await, StatusCode::OK).await;
    assert_eq!(
        listed["items"],
        json!([]),
        "refused definitions leave nothing"
    );

    // A model without the class key is left out with the reason, and a derived copy never
    // stands for a layer of its model.
    let extra = expect_status(
        app.post_json(
            "/v1/models",
            &json!({"name": "unclassed", "metadata": {"seed": 9}, "tags": []}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let extra = extra["id"].as_i64().unwrap();
    app.upload(extra, DATASET, 0, fixture_file("rep001.npy"))
        .await;
    let created = expect_status(
        app.post_json("/v1/benchmarks", &base(&separation)).await,
        StatusCode::CREATED,
    )
    .await;
    let left_out = created["left_out"].as_array().unwrap();
    assert_eq!(left_out.len(), 1, "{left_out:?}");
    assert!(left_out[0]["reason"].as_str().unwrap().contains("\"cls\""));
    // Its classes come from the metadata: giving the model a class makes the benchmark stale,
    // and its next run takes it; a patch that changes nothing leaves the benchmark as it is.
    let separation_id = created["id"].as_i64().unwrap();
    let state_of = |id: i64| {
        let app = &app;
        async move {
            expect_status(
                app.get(&format!("/v1/benchmarks/{id}")).await,
                StatusCode::OK,
            )
            .await
        }
    };
    let patch = |metadata: Value| {
        let app = &app;
        async move {
            let path = format!("/v1/models/{extra}");
            let response = app
                .client
                .patch(app.url(&path))
                .json(&json!({"metadata": metadata}))
                .send()
                .await
                .unwrap();
            expect_status(response, StatusCode::OK).await
        }
    };
    patch(json!({"seed": 9})).await;
    assert_ne!(state_of(separation_id).await["status"], "stale");
    patch(json!({"cls": 1})).await;
    assert_eq!(state_of(separation_id).await["status"], "stale");
    let rerun = expect_status(
        app.post_json(&format!("/v1/benchmarks/{separation_id}/run"), &json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(rerun["left_out"], json!([]));
    assert_eq!(rerun["n_representations"], 25);
    let m0 = models["m0"];
    let m0_layers = expect_status(
        app.get(&format!("/v1/representations?model={m0}&dataset={DATASET}"))
            .await,
        StatusCode::OK,
    )
    .await;
    let layer_0 = m0_layers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["layer"] == 0)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    expect_status(
        app.post_json(
            &format!("/v1/representations/{layer_0}/derived"),
            &json!({"pca_keep": [2]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let mut with_copies = base(&monotonicity);
    with_copies["name"] = json!("with copies");
    with_copies["select"] = json!({"models": [m0], "include_derived": true});
    let created = expect_status(
        app.post_json("/v1/benchmarks", &with_copies).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["n_representations"], 4);
    let left_out = created["left_out"].as_array().unwrap();
    assert_eq!(left_out.len(), 1, "{left_out:?}");
    assert!(left_out[0]["reason"].as_str().unwrap().contains("derived"));
}

#[tokio::test]
async fn y_comes_from_the_two_models_and_models_without_outputs_are_left_out() {
    let app = TestApp::spawn_with_workers(2).await;
    let fixture = fixture();
    let models = load_study(&app, &fixture).await;
    let (m0, m1, m2) = (models["m0"], models["m1"], models["m2"]);
    expect_status(app.delete(&outputs_path(m2)).await, StatusCode::NO_CONTENT).await;
    let body = json!({
        "name": "within", "dataset": DATASET, "select": {"models": [m0, m1, m2]},
        "protocol": {"kind": "all_pairs", "group_by": "none"},
        "functional": {"kind": "disagreement"}, "metrics": ["cka"],
    });
    let (created, results) = results_of(&app, &body).await;
    // m2's four representations are left out, with the reason.
    assert_eq!(created["n_representations"], 8);
    let left_out = created["left_out"].as_array().unwrap();
    assert_eq!(left_out.len(), 4);
    assert!(
        left_out
            .iter()
            .all(|left| left["reason"].as_str().unwrap().contains("no outputs")),
        "{left_out:?}"
    );
    assert_eq!(results["metrics"]["cka"]["groups"][0]["n_pairs"], 28);
    let id = created["id"].as_i64().unwrap();
    let pairs = expect_status(
        app.get(&format!("/v1/benchmarks/{id}/pairs?metric=cka"))
            .await,
        StatusCode::OK,
    )
    .await;
    let representations = expect_status(
        app.get(&format!("/v1/representations?dataset={DATASET}&limit=100"))
            .await,
        StatusCode::OK,
    )
    .await;
    let model_of: HashMap<i64, i64> = representations["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["id"].as_i64().unwrap(),
                item["model_id"].as_i64().unwrap(),
            )
        })
        .collect();
    let between = number(&fixture["functional"]["disagreement"]["m0|m1"], "m0|m1");
    for row in pairs["rows"].as_array().unwrap() {
        let first = model_of[&row["first"].as_i64().unwrap()];
        let second = model_of[&row["second"].as_i64().unwrap()];
        let want = if first == second { 0.0 } else { between };
        close(&row["y"], &json!(want), 1e-12, &format!("y of {row}"));
    }

    // Outputs arriving for m2 concern the benchmark: its members would change.
    let state = expect_status(
        app.get(&format!("/v1/benchmarks/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(state["status"], "done");
    let npy = fixture_file("out_m2.npy");
    expect_status(
        app.put_bytes(&outputs_path(m2), npy).await,
        StatusCode::CREATED,
    )
    .await;
    let state = expect_status(
        app.get(&format!("/v1/benchmarks/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(state["status"], "stale");
    let rerun = expect_status(
        app.post_json(&format!("/v1/benchmarks/{id}/run"), &json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(rerun["n_representations"], 12);
    assert_eq!(rerun["left_out"], json!([]));
}

#[tokio::test]
async fn changed_or_deleted_outputs_make_the_benchmarks_using_them_stale() {
    let app = TestApp::spawn_with_workers(2).await;
    let fixture = fixture();
    let models = load_study(&app, &fixture).await;
    let (m0, m1, m3) = (models["m0"], models["m1"], models["m3"]);
    let create = |name: &str, functional: Value, selected: Vec<i64>| {
        json!({
            "name": name, "dataset": DATASET, "select": {"models": selected},
            "protocol": {"kind": "all_pairs", "group_by": "layer"},
            "functional": functional, "metrics": ["cka"],
        })
    };
    let jsd = create("jsd", json!({"kind": "jsd"}), vec![m0, m1]);
    let (jsd, _) = results_of(&app, &jsd).await;
    let other = create("other", json!({"kind": "disagreement"}), vec![m3]);
    let (other, _) = results_of(&app, &other).await;
    let status = |benchmark: Value| {
        let app = &app;
        async move {
            let id = benchmark["id"].as_i64().unwrap();
            expect_status(
                app.get(&format!("/v1/benchmarks/{id}")).await,
                StatusCode::OK,
            )
            .await["status"]
                .clone()
        }
    };
    // The same outputs again change nothing.
    expect_status(
        app.put_bytes(&outputs_path(m1), fixture_file("out_m1.npy"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status(jsd.clone()).await, "done");
    // Different ones, replaced, concern the benchmark holding m1 only.
    let replaced = app
        .put_bytes(
            &format!("{}&replace=true", outputs_path(m1)),
            fixture_file("out_m2.npy"),
        )
        .await;
    expect_status(replaced, StatusCode::OK).await;
    assert_eq!(status(jsd.clone()).await, "stale");
    assert_eq!(status(other.clone()).await, "done");
    // Deleting outputs concerns the benchmarks holding that model.
    expect_status(app.delete(&outputs_path(m3)).await, StatusCode::NO_CONTENT).await;
    assert_eq!(status(other.clone()).await, "stale");
    // Run again, m3 has no outputs left, so the benchmark has nothing to take y from.
    let id = other["id"].as_i64().unwrap();
    let problem = expect_problem(
        app.post_json(&format!("/v1/benchmarks/{id}/run"), &json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_outputs",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("outputs"));
}

#[tokio::test]
async fn definitions_with_functionals_and_permutations_are_validated() {
    let app = TestApp::spawn().await;
    let fixture = fixture();
    let models = load_study(&app, &fixture).await;
    let base = json!({
        "name": "b", "dataset": DATASET, "protocol": {"kind": "all_pairs", "group_by": "layer"},
        "functional": {"kind": "jsd"}, "metrics": ["cka"],
    });
    let with = |changes: Value| {
        let mut body = base.clone();
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    };
    let refused = [
        (
            json!({"permutation": {"resamples": 0}}),
            "invalid_permutation",
        ),
        (
            json!({"permutation": {"resamples": 100_001}}),
            "invalid_permutation",
        ),
        (
            json!({"permutation": {"resamples": 10, "sed": 1}}),
            "invalid_permutation",
        ),
        (json!({"functional": {"kind": "kl"}}), "invalid_functional"),
        (
            json!({"functional": {"kind": "jsd", "score": "acc"}}),
            "invalid_functional",
        ),
        (json!({"score": "acc"}), "invalid_functional"),
        (json!({"functional": null}), "invalid_functional"),
        (
            json!({"protocol": {"kind": "reference", "group_by": "layer"}}),
            "reference_needs_score",
        ),
    ];
    for (changes, code) in refused {
        let body = with(changes.clone());
        expect_problem(
            app.post_json("/v1/benchmarks", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
        )
        .await;
    }
    let listed = expect_status(app.get("/v1/benchmarks").await, StatusCode::OK).await;
    assert_eq!(
        listed["items"],
        json!([]),
        "refused definitions leave nothing"
    );

    // The shorthand and the long form are one functional.
    let scores: Vec<Value> = models
        .values()
        .map(|id| json!({"model": id, "name": "acc", "value": *id as f64 / 10.0}))
        .collect();
    expect_status(
        app.post_json("/v1/scores", &json!({"scores": scores}))
            .await,
        StatusCode::OK,
    )
    .await;
    let long = with(json!({
        "name": "long", "functional": {"kind": "score_difference", "score": "acc"},
        "permutation": {"resamples": 50, "seed": 7},
    }));
    let long = expect_status(
        app.post_json("/v1/benchmarks", &long).await,
        StatusCode::CREATED,
    )
    .await;
    let short = with(json!({"name": "short", "functional": null, "score": "acc"}));
    let short = expect_status(
        app.post_json("/v1/benchmarks", &short).await,
        StatusCode::CREATED,
    )
    .await;
    for created in [&long, &short] {
        assert_eq!(created["score"], "acc");
        assert_eq!(
            created["functional"],
            json!({"kind": "score_difference", "score": "acc"})
        );
    }
    assert_eq!(long["permutation"], json!({"resamples": 50, "seed": 7}));
    assert_eq!(short["permutation"], Value::Null);

    // Outputs with another number of classes cannot be compared with the others.
    let two_classes = simbench::matrix::CanonicalMatrix::from_f64_as(
        simbench::matrix::Dtype::Float32,
        &ndarray::Array2::from_shape_fn((100, 2), |(row, class)| ((row + class) % 3) as f64),
    )
    .to_npy();
    expect_status(
        app.put_bytes(
            &format!("{}&replace=true", outputs_path(models["m0"])),
            two_classes,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.post_json("/v1/benchmarks", &with(json!({"name": "mixed"})))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incomparable_outputs",
    )
    .await;
}
