//! `simbench upload` as a process against the real application: a folder of `.npy` files, a
//! multi-tensor safetensors file, scores from CSV and JSON, refusals reported while the other
//! layers still go.

mod common;

use std::path::Path;
use std::process::Output;

use reqwest::StatusCode;
use safetensors::tensor::{Dtype as TensorDtype, TensorView};
use serde_json::Value;

use common::{TestApp, expect_status, matrix_f32};
use simbench::matrix::{CanonicalMatrix, Dtype};

/// Runs `simbench upload ARGS` against the app without blocking the app's runtime.
async fn upload(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_simbench"))
        .arg("upload")
        .args(args)
        .env("SIMBENCH_URL", &app.base_url)
        .env("SIMBENCH_TOKEN", &app.token)
        .output()
        .await
        .expect("simbench runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn get(app: &TestApp, path: &str) -> Value {
    expect_status(app.get(path).await, StatusCode::OK).await
}

/// The model's representations on the dataset, by layer.
async fn representations(app: &TestApp, model: i64, dataset: &str) -> Vec<Value> {
    let mut items = get(
        app,
        &format!("/v1/representations?model={model}&dataset={dataset}"),
    )
    .await["items"]
        .as_array()
        .expect("a list")
        .clone();
    items.sort_by_key(|item| item["layer"].as_i64());
    items
}

async fn model_named(app: &TestApp, name: &str) -> Value {
    get(app, &format!("/v1/models?name={name}")).await["items"][0].clone()
}

#[tokio::test]
async fn a_folder_of_npy_files_uploads_with_its_scores_and_again_harmlessly() {
    let app = TestApp::spawn().await;
    let folder = tempfile::tempdir().unwrap();
    let layers = folder.path().join("run");
    std::fs::create_dir(&layers).unwrap();
    let matrices: Vec<CanonicalMatrix> = (0..3).map(|layer| matrix_f32(30, 5, layer)).collect();
    for (layer, matrix) in matrices.iter().enumerate() {
        std::fs::write(layers.join(format!("layer{layer:02}.npy")), matrix.to_npy()).unwrap();
    }
    let scores = folder.path().join("scores.csv");
    std::fs::write(
        &scores,
        "name,value,layer\nprobe_acc,0.7,0\nprobe_acc,0.6,1\nprobe_acc,0.5,2\nhans_acc,0.55,\n",
    )
    .unwrap();
    let args = [
        "--model",
        "bert-seed0",
        "--dataset",
        "sst2-dev",
        "--metadata",
        r#"{"seed": 0, "arch": "bert-base"}"#,
        "--tag",
        "bert",
        "--scores",
        scores.to_str().unwrap(),
        layers.to_str().unwrap(),
    ];
    let output = upload(&app, &args).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("3 of 3 layers stored"),
        "{}",
        text(&output.stdout)
    );

    let model = model_named(&app, "bert-seed0").await;
    assert_eq!(model["metadata"]["arch"], "bert-base");
    assert_eq!(model["tags"], serde_json::json!(["bert"]));
    let model_id = model["id"].as_i64().unwrap();
    let stored = representations(&app, model_id, "sst2-dev").await;
    assert_eq!(stored.len(), 3);
    let probe_accuracies = [0.7, 0.6, 0.5];
    for (layer, (representation, matrix)) in stored.iter().zip(&matrices).enumerate() {
        assert_eq!(representation["layer"], layer as i64);
        assert_eq!(app.download(&representation["id"]).await, *matrix);
        let scores = get(
            &app,
            &format!("/v1/representations/{}/scores", representation["id"]),
        )
        .await;
        assert_eq!(scores["items"][0]["name"], "probe_acc");
        assert_eq!(scores["items"][0]["value"], probe_accuracies[layer]);
    }
    let model_scores = get(&app, &format!("/v1/models/{model_id}/scores")).await;
    assert_eq!(model_scores["items"][0]["name"], "hans_acc");

    let again = upload(&app, &args).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(representations(&app, model_id, "sst2-dev").await, stored);

    let conflicting = upload(
        &app,
        &[
            "--model",
            "bert-seed0",
            "--dataset",
            "sst2-dev",
            "--metadata",
            r#"{"seed": 1}"#,
            layers.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!conflicting.status.success());
    assert!(
        text(&conflicting.stderr).contains("exists with metadata"),
        "{}",
        text(&conflicting.stderr)
    );
}

#[tokio::test]
async fn a_refused_layer_is_reported_with_the_detail_and_the_others_still_go() {
    let app = TestApp::spawn().await;
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("layer0.npy"),
        matrix_f32(8, 3, 1).to_npy(),
    )
    .unwrap();
    let mut broken = matrix_f32(8, 3, 2);
    broken.data[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(folder.path().join("layer1.npy"), broken.to_npy()).unwrap();
    std::fs::write(
        folder.path().join("layer2.npy"),
        matrix_f32(8, 3, 3).to_npy(),
    )
    .unwrap();

    let output = upload(
        &app,
        &[
            "--model",
            "m",
            "--dataset",
            "d",
            folder.path().to_str().unwrap(),
        ],
    )
    .await;
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("layer 1") && stderr.contains("non-finite value NaN at row 0, column 1"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 3 layers were refused"), "{stderr}");
    let model = model_named(&app, "m").await["id"].as_i64().unwrap();
    let layers: Vec<i64> = representations(&app, model, "d")
        .await
        .iter()
        .map(|item| item["layer"].as_i64().unwrap())
        .collect();
    assert_eq!(layers, [0, 2]);
}

fn tensor_bytes(matrix: &CanonicalMatrix) -> (TensorDtype, Vec<usize>, &[u8]) {
    let dtype = match matrix.dtype {
        Dtype::Float16 => TensorDtype::F16,
        Dtype::Float32 => TensorDtype::F32,
        Dtype::Float64 => TensorDtype::F64,
    };
    (dtype, vec![matrix.rows, matrix.cols], &matrix.data)
}

fn write_safetensors(path: &Path, tensors: &[(&str, TensorDtype, Vec<usize>, &[u8])]) {
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (
                *name,
                TensorView::new(*dtype, shape.clone(), data).expect("a valid tensor"),
            )
        })
        .collect();
    std::fs::write(path, safetensors::tensor::serialize(views, None).unwrap()).unwrap();
}

#[tokio::test]
async fn a_safetensors_file_uploads_a_layer_per_tensor() {
    let app = TestApp::spawn().await;
    let folder = tempfile::tempdir().unwrap();
    let matrices: Vec<CanonicalMatrix> = (0..3).map(|layer| matrix_f32(20, 4, layer)).collect();
    let as_f64 = CanonicalMatrix::from_f64(&matrix_f32(20, 4, 9).to_f64());
    let bf16_values = [1.0f32, -2.5, 0.15625, 3.0e-3];
    let bf16: Vec<u8> = (0..20)
        .flat_map(|row| bf16_values.map(|value| value * row as f32))
        .flat_map(|value| ((value.to_bits() >> 16) as u16).to_le_bytes())
        .collect();
    let mut tensors: Vec<(String, TensorDtype, Vec<usize>, &[u8])> = matrices
        .iter()
        .enumerate()
        .map(|(layer, matrix)| {
            let (dtype, shape, data) = tensor_bytes(matrix);
            (format!("hidden_states.{layer}"), dtype, shape, data)
        })
        .collect();
    let (dtype, shape, data) = tensor_bytes(&as_f64);
    tensors.push(("layers.3".into(), dtype, shape, data));
    tensors.push(("layer_4".into(), TensorDtype::BF16, vec![20, 4], &bf16));
    let named: Vec<(&str, TensorDtype, Vec<usize>, &[u8])> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| (name.as_str(), *dtype, shape.clone(), *data))
        .collect();
    let file = folder.path().join("run.safetensors");
    write_safetensors(&file, &named);
    let scores = folder.path().join("scores.json");
    std::fs::write(
        &scores,
        r#"[{"name": "probe_acc", "value": 0.9, "layer": 4}, {"name": "ood_acc", "value": 0.4}]"#,
    )
    .unwrap();

    let output = upload(
        &app,
        &[
            "--model",
            "vit-seed3",
            "--dataset",
            "imagenet-val",
            "--scores",
            scores.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));

    let model = model_named(&app, "vit-seed3").await["id"].as_i64().unwrap();
    let stored = representations(&app, model, "imagenet-val").await;
    let layers: Vec<i64> = stored
        .iter()
        .map(|item| item["layer"].as_i64().unwrap())
        .collect();
    assert_eq!(layers, [0, 1, 2, 3, 4]);
    for (representation, matrix) in stored.iter().zip(&matrices) {
        assert_eq!(app.download(&representation["id"]).await, *matrix);
    }
    assert_eq!(app.download(&stored[3]["id"]).await, as_f64);
    let widened = app.download(&stored[4]["id"]).await;
    assert_eq!(widened.dtype, Dtype::Float32);
    let exact: Vec<u8> = bf16
        .chunks_exact(2)
        .flat_map(|bits| {
            let bits = u32::from(u16::from_le_bytes([bits[0], bits[1]]));
            f32::from_bits(bits << 16).to_le_bytes()
        })
        .collect();
    assert_eq!(widened.data, exact, "bfloat16 widens to float32 exactly");
    let scores = get(
        &app,
        &format!("/v1/representations/{}/scores", stored[4]["id"]),
    )
    .await;
    assert_eq!(scores["items"][0]["value"], 0.9);
    let model_scores = get(&app, &format!("/v1/models/{model}/scores")).await;
    assert_eq!(model_scores["items"][0]["name"], "ood_acc");
}
