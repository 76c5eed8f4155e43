//! `simbench compare` as a process: one JSON object on stdout, refusals as error objects with
//! exit code 0, unreadable input as a clear error with a failing exit code.

use std::process::Command;

use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metrics");

fn simbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_simbench"))
        .args(args)
        .output()
        .expect("simbench runs")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

#[test]
fn compare_prints_every_metric_and_reports_refusals_as_errors() {
    let output = simbench(&[
        "compare",
        &fixture("case04_x.npy"),
        &fixture("case04_y.npy"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let report = report.as_object().expect("an object");
    assert_eq!(report.len(), 10);
    assert!((report["cka"].as_f64().expect("cka value") - 0.07915341405986975).abs() < 1e-8);
    let refusal = &report["pwcca"];
    assert_eq!(refusal["code"], "too_few_examples");
    let message = refusal["error"].as_str().expect("error message");
    assert!(
        message.contains("n = 120") && message.contains("d = 200"),
        "{message}"
    );
}

#[test]
fn compare_computes_only_the_metrics_asked_for() {
    let (x, y) = (fixture("case01_x.npy"), fixture("case01_y.npy"));
    let output = simbench(&["compare", &x, &y, "--metrics", "pwcca,cka"]);
    assert!(output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let names: Vec<&String> = report.as_object().expect("an object").keys().collect();
    assert_eq!(names, ["cka", "pwcca"]);
}

#[test]
fn compare_fails_clearly_on_unusable_input() {
    let (x, other) = (fixture("case01_x.npy"), fixture("case02_y.npy"));
    for (args, expected) in [
        (vec!["compare", &x, &other], "rows"),
        (
            vec!["compare", &x, "/nonexistent/y.npy"],
            "/nonexistent/y.npy",
        ),
        (
            vec!["compare", &x, &x, "--metrics", "cka,cca"],
            "valid metrics are",
        ),
    ] {
        let output = simbench(&args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?} printed a result");
    }
}
