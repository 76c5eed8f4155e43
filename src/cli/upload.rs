//! `simbench upload`: one model's layers from files on disk to a running service — `.npy` files
//! (or folders of them), or `.safetensors` files holding a tensor per layer — then its scores.
//!
//! Files stream from disk: a tensor of a safetensors file goes as a one-tensor safetensors body
//! read straight from its byte range, so a file of many layers is never sent, or held, whole.
//! A refused layer is reported with the service's detail and the others still go; the command
//! fails at the end if anything was refused.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::{StreamExt, stream};
use safetensors::tensor::Metadata;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::io::ReaderStream;

use super::client::{
    Client, ListResponse, Model, NewModel, Representation, ScoreItem, ScoreTarget, UploadParams,
    token_from_environment,
};
use super::progress::ProgressBar;

/// The safetensors format caps its header at 100 MB; anything near that is not activations.
const MAX_HEADER_BYTES: u64 = 16 << 20;

#[derive(Clone, Debug, clap::Args)]
pub struct UploadArgs {
    /// Base URL of the running service.
    #[arg(long, env = "SIMBENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// The model's name; it is registered when missing.
    #[arg(long)]
    pub model: String,

    /// The dataset the activations are of; the first upload creates it.
    #[arg(long)]
    pub dataset: String,

    /// The model's metadata, a JSON object such as '{"seed": 0}': registered with a new model,
    /// and checked against an existing one's (never overwritten).
    #[arg(long, value_parser = parse_metadata)]
    pub metadata: Option<Value>,

    /// A tag of the model (repeat for several); checked like --metadata.
    #[arg(long = "tag")]
    pub tags: Vec<String>,

    /// The layer of a single .npy file; without it, each file's layer is the last number in
    /// its name (layer07.npy is layer 7).
    #[arg(long)]
    pub layer: Option<i64>,

    /// Replace a different matrix already stored for a layer instead of refusing it.
    #[arg(long)]
    pub replace: bool,

    /// Scores to set after the upload: a CSV file with a header `name,value[,layer]` or a JSON
    /// array of {"name", "value", "layer"?}; rows without a layer score the model.
    #[arg(long)]
    pub scores: Option<PathBuf>,

    /// .npy files, folders of .npy files, or .safetensors files with one tensor per layer
    /// (named e.g. hidden_states.7, layers.7, layer_7).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// Bearer token, from SIMBENCH_TOKEN (not a flag, so that it stays out of process lists).
    #[arg(skip = token_from_environment())]
    pub token: Option<String>,
}

fn parse_metadata(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("the metadata must be a JSON object, e.g. '{\"seed\": 0}'".into()),
        Err(error) => Err(format!("not JSON: {error}")),
    }
}

/// One layer to send, and where its matrix lies on disk.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerFile {
    pub layer: i64,
    pub path: PathBuf,
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A whole `.npy` file.
    Npy,
    /// One tensor of a safetensors file.
    Tensor {
        name: String,
        /// A one-tensor safetensors header describing just this tensor.
        header: Bytes,
        /// Bytes from the start of the file to the tensor's first byte.
        start: u64,
        len: u64,
    },
}

impl LayerFile {
    fn describe(&self) -> String {
        match &self.source {
            Source::Npy => format!("layer {} ({})", self.layer, self.path.display()),
            Source::Tensor { name, .. } => {
                format!("layer {} ({}: {name})", self.layer, self.path.display())
            }
        }
    }
}

/// A score of the scores file: on the model, or on the representation of one layer.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ScoreRow {
    pub name: String,
    pub value: f64,
    #[serde(default)]
    pub layer: Option<i64>,
}

pub async fn run(args: UploadArgs) -> anyhow::Result<()> {
    let layers = plan(&args.files, args.layer)?;
    let scores = match &args.scores {
        Some(path) => read_scores(path)?,
        None => Vec::new(),
    };
    let client = Client::new(&args.url, args.token.as_deref())?;
    client.check_ready().await?;
    let model = model_id(&client, &args).await?;

    let mut uploaded = BTreeMap::new();
    let mut refused = 0;
    let mut bar = ProgressBar::new("layers uploaded", layers.len() as u64);
    for layer in &layers {
        match upload(&client, model, &args, layer).await {
            Ok(id) => {
                uploaded.insert(layer.layer, id);
            }
            Err(error) => {
                refused += 1;
                eprintln!("{} refused: {error:#}", layer.describe());
            }
        }
        bar.advance(1);
    }
    bar.finish();
    println!(
        "model {:?} (id {model}): {} of {} layers stored on dataset {:?}",
        args.model,
        uploaded.len(),
        layers.len(),
        args.dataset
    );

    let scores_failed = if scores.is_empty() {
        false
    } else {
        match set_scores(&client, model, &args.dataset, &uploaded, &scores).await {
            Ok(()) => {
                println!("{} scores set", scores.len());
                false
            }
            Err(error) => {
                eprintln!("scores not set: {error:#}");
                true
            }
        }
    };
    if refused > 0 {
        bail!("{refused} of {} layers were refused", layers.len());
    }
    if scores_failed {
        bail!("the scores were not set");
    }
    Ok(())
}

/// Every layer the files hold, in layer order; refuses, before anything is sent, files whose
/// layer cannot be told and layers given twice.
pub fn plan(files: &[PathBuf], layer: Option<i64>) -> anyhow::Result<Vec<LayerFile>> {
    let mut paths = Vec::new();
    for path in files {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading the folder {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| has_extension(path, "npy"))
                .collect();
            if found.is_empty() {
                bail!("the folder {} holds no .npy file", path.display());
            }
            found.sort();
            paths.extend(found);
        } else {
            paths.push(path.clone());
        }
    }
    if layer.is_some() && (paths.len() != 1 || !has_extension(&paths[0], "npy")) {
        bail!("--layer applies to a single .npy file; name several files by layer (layer07.npy)");
    }

    let mut layers: Vec<LayerFile> = Vec::new();
    for path in paths {
        if has_extension(&path, "npy") {
            let stem = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or("");
            let number = layer.or_else(|| last_number(stem)).with_context(|| {
                format!(
                    "cannot tell the layer of {}: name it by its layer (layer07.npy) or pass --layer",
                    path.display()
                )
            })?;
            layers.push(LayerFile {
                layer: number,
                path,
                source: Source::Npy,
            });
        } else if has_extension(&path, "safetensors") {
            layers.extend(safetensors_layers(&path)?);
        } else {
            bail!(
                "{}: only .npy and .safetensors files (or folders of .npy files) can be uploaded",
                path.display()
            );
        }
    }
    layers.sort_by_key(|layer| layer.layer);
    for pair in layers.windows(2) {
        if pair[0].layer == pair[1].layer {
            bail!(
                "{} and {} are both layer {}",
                pair[0].describe(),
                pair[1].describe(),
                pair[0].layer
            );
        }
    }
    Ok(layers)
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .and_then(|found| found.to_str())
        .is_some_and(|found| found.eq_ignore_ascii_case(extension))
}

/// The last run of digits in a name: `layer07` → 7, `hidden_states.7` → 7, `layer_7` → 7.
pub fn last_number(name: &str) -> Option<i64> {
    let end = name.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = name[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |index| index + 1);
    name[start..end].parse().ok()
}

/// A layer per tensor of a safetensors file, read from its header alone.
fn safetensors_layers(path: &Path) -> anyhow::Result<Vec<LayerFile>> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)
        .with_context(|| format!("{} is too short for a safetensors file", path.display()))?;
    let header_len = u64::from_le_bytes(prefix);
    if header_len > MAX_HEADER_BYTES {
        bail!(
            "{}: a safetensors header of {header_len} bytes is implausible",
            path.display()
        );
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .with_context(|| format!("{}: the header is cut short", path.display()))?;
    let metadata: Metadata = serde_json::from_slice(&header)
        .with_context(|| format!("{}: malformed safetensors header", path.display()))?;
    let data_start = 8 + header_len;
    let mut layers = Vec::new();
    for name in metadata.offset_keys() {
        let info = metadata
            .info(&name)
            .with_context(|| format!("{}: tensor {name:?} is not described", path.display()))?;
        let layer = last_number(&name).with_context(|| {
            format!(
                "cannot tell the layer of tensor {name:?} in {}: name tensors by layer (hidden_states.7, layers.7, layer_7)",
                path.display()
            )
        })?;
        let (begin, end) = info.data_offsets;
        let len = (end - begin) as u64;
        let one = json!({name.clone(): {"dtype": info.dtype, "shape": info.shape, "data_offsets": [0, len]}});
        let mut text = serde_json::to_vec(&one).context("encoding a safetensors header")?;
        text.resize(text.len().next_multiple_of(8), b' ');
        let mut header = (text.len() as u64).to_le_bytes().to_vec();
        header.extend_from_slice(&text);
        layers.push(LayerFile {
            layer,
            path: path.to_owned(),
            source: Source::Tensor {
                name,
                header: Bytes::from(header),
                start: data_start + begin as u64,
                len,
            },
        });
    }
    if layers.is_empty() {
        bail!("{} holds no tensor", path.display());
    }
    Ok(layers)
}

/// Reads a scores file: CSV with a header naming `name`, `value` and optionally `layer`, or a
/// JSON array of objects with those members.
pub fn read_scores(path: &Path) -> anyhow::Result<Vec<ScoreRow>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the scores file {}", path.display()))?;
    if has_extension(path, "json") || text.trim_start().starts_with('[') {
        return serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: expected a JSON array of {{\"name\", \"value\", \"layer\"?}}",
                path.display()
            )
        });
    }
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let column = |wanted: &str| columns.iter().position(|name| *name == wanted);
    let (Some(name_at), Some(value_at)) = (column("name"), column("value")) else {
        bail!(
            "{}: the CSV header must name the columns name and value (and layer, for a layer's score); it is {header:?}",
            path.display()
        );
    };
    let layer_at = column("layer");
    let mut rows = Vec::new();
    for (index, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let at = |position: usize| fields.get(position).copied().unwrap_or("");
        let line_number = index + 1;
        let value = at(value_at).parse::<f64>().with_context(|| {
            format!(
                "{}:{line_number}: {:?} is not a number",
                path.display(),
                at(value_at)
            )
        })?;
        let layer = match layer_at.map(at) {
            None | Some("") => None,
            Some(text) => Some(text.parse::<i64>().with_context(|| {
                format!(
                    "{}:{line_number}: layer {text:?} is not an integer",
                    path.display()
                )
            })?),
        };
        rows.push(ScoreRow {
            name: at(name_at).to_owned(),
            value,
            layer,
        });
    }
    Ok(rows)
}

/// The model's id, registering it when missing; an existing model must agree with the
/// metadata and tags given.
async fn model_id(client: &Client, args: &UploadArgs) -> anyhow::Result<i64> {
    let query = serde_urlencoded::to_string([("name", args.model.as_str())])
        .context("encoding the model's name")?;
    let page: ListResponse<Model> = client.get_json(&format!("/v1/models?{query}")).await?;
    let existing = page
        .items
        .into_iter()
        .find(|model| model.name == args.model);
    let Some(model) = existing else {
        let new = NewModel {
            name: args.model.clone(),
            metadata: args.metadata.clone().unwrap_or_else(|| json!({})),
            tags: args.tags.clone(),
        };
        return Ok(client.create_model(&new).await?.id);
    };
    if let Some(metadata) = &args.metadata
        && &model.metadata != metadata
    {
        bail!(
            "model {:?} exists with metadata {}, not {metadata}; nothing was uploaded (use another name, or PATCH /v1/models/{})",
            args.model,
            model.metadata,
            model.id
        );
    }
    if !args.tags.is_empty() {
        let mut held: Vec<&str> = model.tags.iter().map(String::as_str).collect();
        let mut asked: Vec<&str> = args.tags.iter().map(String::as_str).collect();
        held.sort_unstable();
        asked.sort_unstable();
        if held != asked {
            bail!(
                "model {:?} exists with tags {held:?}, not {asked:?}; nothing was uploaded",
                args.model
            );
        }
    }
    Ok(model.id)
}

/// Sends one layer; returns its representation's id.
async fn upload(
    client: &Client,
    model: i64,
    args: &UploadArgs,
    layer: &LayerFile,
) -> anyhow::Result<i64> {
    let params = UploadParams {
        dataset: args.dataset.clone(),
        layer: i32::try_from(layer.layer)
            .with_context(|| format!("layer {} does not fit in 32 bits", layer.layer))?,
        replace: args.replace,
        ..UploadParams::default()
    };
    let url = client.url(&Client::upload_path(model, &params)?);
    let (content_type, prefix, start, len) = match &layer.source {
        Source::Npy => {
            let len = std::fs::metadata(&layer.path)
                .with_context(|| format!("reading {}", layer.path.display()))?
                .len();
            ("application/x-npy", Bytes::new(), 0, len)
        }
        Source::Tensor {
            header, start, len, ..
        } => ("application/octet-stream", header.clone(), *start, *len),
    };
    let created: Representation = client
        .send_json("POST /v1/models/{id}/representations", || {
            client
                .http()
                .post(&url)
                .header("content-type", content_type)
                .header("content-length", prefix.len() as u64 + len)
                .body(file_body(prefix.clone(), &layer.path, start, len))
        })
        .await?;
    Ok(created.id)
}

/// `prefix`, then `len` bytes of the file from `start`, read piece by piece as the request
/// goes out; a file that cannot be read fails the request with the reason.
fn file_body(prefix: Bytes, path: &Path, start: u64, len: u64) -> reqwest::Body {
    let opened = std::fs::File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(start))?;
        Ok(file)
    });
    let head = stream::iter([Ok::<Bytes, std::io::Error>(prefix)]);
    match opened {
        Ok(file) => {
            let reader = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), len);
            reqwest::Body::wrap_stream(head.chain(ReaderStream::with_capacity(reader, 1 << 20)))
        }
        Err(error) => reqwest::Body::wrap_stream(head.chain(stream::iter([Err(error)]))),
    }
}

/// Sets the scores file's scores: a row with a layer on that layer's representation of this
/// model and dataset (uploaded now, or earlier), one without on the model.
async fn set_scores(
    client: &Client,
    model: i64,
    dataset: &str,
    uploaded: &BTreeMap<i64, i64>,
    rows: &[ScoreRow],
) -> anyhow::Result<()> {
    let mut representations = uploaded.clone();
    let mut scores = Vec::with_capacity(rows.len());
    for row in rows {
        let target = match row.layer {
            None => ScoreTarget::Model(model),
            Some(layer) => {
                let id = match representations.get(&layer) {
                    Some(&id) => id,
                    None => {
                        let id = stored_representation(client, model, dataset, layer)
                            .await?
                            .with_context(|| {
                                format!(
                                    "score {:?} is for layer {layer}, which this model has no representation of on {dataset:?}",
                                    row.name
                                )
                            })?;
                        representations.insert(layer, id);
                        id
                    }
                };
                ScoreTarget::Representation(id)
            }
        };
        scores.push(ScoreItem::new(target, row.name.clone(), row.value));
    }
    client.set_scores(&scores).await
}

async fn stored_representation(
    client: &Client,
    model: i64,
    dataset: &str,
    layer: i64,
) -> anyhow::Result<Option<i64>> {
    let query = serde_urlencoded::to_string([
        ("model", model.to_string()),
        ("dataset", dataset.to_owned()),
        ("layer", layer.to_string()),
        ("derived", "false".to_owned()),
    ])
    .context("encoding the query")?;
    let page: ListResponse<Representation> = client
        .get_json(&format!("/v1/representations?{query}"))
        .await?;
    Ok(page.items.first().map(|representation| representation.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_the_last_number_of_a_name() {
        assert_eq!(last_number("layer07"), Some(7));
        assert_eq!(last_number("hidden_states.7"), Some(7));
        assert_eq!(last_number("model.layers.12"), Some(12));
        assert_eq!(last_number("layer_3"), Some(3));
        assert_eq!(last_number("block2_out"), Some(2));
        assert_eq!(last_number("embeddings"), None);
    }

    #[test]
    fn csv_and_json_scores_read_alike() {
        let folder = tempfile::tempdir().unwrap();
        let csv = folder.path().join("scores.csv");
        std::fs::write(&csv, "layer,name,value\n0,probe_acc,0.8\n,hans_acc,0.5\n").unwrap();
        let json = folder.path().join("scores.json");
        std::fs::write(
            &json,
            r#"[{"name": "probe_acc", "value": 0.8, "layer": 0}, {"name": "hans_acc", "value": 0.5}]"#,
        )
        .unwrap();
        let expected = vec![
            ScoreRow {
                name: "probe_acc".into(),
                value: 0.8,
                layer: Some(0),
            },
            ScoreRow {
                name: "hans_acc".into(),
                value: 0.5,
                layer: None,
            },
        ];
        assert_eq!(read_scores(&csv).unwrap(), expected);
        assert_eq!(read_scores(&json).unwrap(), expected);

        std::fs::write(&csv, "name,value\nprobe_acc,high\n").unwrap();
        let error = read_scores(&csv).unwrap_err().to_string();
        assert!(
            error.contains("scores.csv:2") && error.contains("high"),
            "{error}"
        );
        std::fs::write(&csv, "metric,score\n").unwrap();
        assert!(read_scores(&csv).is_err());
    }

    #[test]
    fn files_whose_layer_is_unclear_or_repeated_are_refused_before_anything_is_sent() {
        let folder = tempfile::tempdir().unwrap();
        let write = |name: &str| {
            let path = folder.path().join(name);
            std::fs::write(&path, b"").unwrap();
            path
        };
        let (a, b, c) = (write("layer1.npy"), write("run_01.npy"), write("final.npy"));
        let error = plan(&[a.clone(), b], None).unwrap_err().to_string();
        assert!(error.contains("both layer 1"), "{error}");
        let error = plan(std::slice::from_ref(&c), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--layer"), "{error}");
        assert_eq!(plan(&[c], Some(4)).unwrap()[0].layer, 4);
        assert!(plan(&[a.clone(), a], Some(4)).is_err());
        let error = plan(&[write("notes.txt")], None).unwrap_err().to_string();
        assert!(error.contains(".npy"), "{error}");
    }
}
