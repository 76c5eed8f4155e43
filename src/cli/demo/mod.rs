//! `simbench demo`: the paper's four subtasks and ReSi's separation and monotonicity tests on a
//! synthetic study, end to end against a running service — upload, principal-component copies,
//! scores, six benchmarks computed by the service's workers, publication, and the leaderboard.

mod table;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use super::client::{
    Benchmark, Client, Leaderboard, NewDataset, NewModel, ScoreItem, ScoreTarget,
    token_from_environment,
};
use super::progress::ProgressBar;
use crate::matrix::{CanonicalMatrix, Dtype};
use crate::metrics::{Metric, parse_metric_list};
use crate::store::status::BenchmarkStatus;
use crate::synthetic::study::{Network, Study, StudySpec};

/// Requests in flight at once while uploading: enough to overlap round trips, few enough to
/// leave the service's cores to its workers.
const CONCURRENT_REQUESTS: usize = 4;
/// How often the benchmarks' progress is asked for.
const POLL_INTERVAL: Duration = Duration::from_millis(300);
/// The demo gives up when no distance gets computed for this long (no workers running?).
const STALL_LIMIT: Duration = Duration::from_secs(120);
/// The tag every model the demo creates carries.
const DEMO_TAG: &str = "demo";

#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Base URL of the running service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// Pretrained networks (pretraining seeds).
    #[arg(long, default_value_t = 6)]
    pub models: usize,

    /// Networks finetuned from each pretrained one (finetuning seeds).
    #[arg(long, default_value_t = 12)]
    pub finetunes: usize,

    /// Layers per network.
    #[arg(long, default_value_t = 6)]
    pub layers: usize,

    /// Inputs of the synthetic dataset (rows of every representation).
    #[arg(long, default_value_t = 600)]
    pub n: usize,

    /// Features per representation.
    #[arg(long, default_value_t = 64)]
    pub d: usize,

    /// Comma-separated metrics to benchmark, e.g. the paper's trio cka,pwcca,procrustes
    /// (default: all ten).
    #[arg(long)]
    pub metrics: Option<String>,

    /// Seed of the synthetic study: the same seed gives the same numbers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Bearer token, from SIMBENCH_TOKEN (not a flag, so that it stays out of process lists).
    #[arg(skip = token_from_environment())]
    pub token: Option<String>,
}

/// What a demo run made, for callers that check it.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// `demo-<8 hex>`: the prefix of every name the run created.
    pub run_id: String,
    /// The six benchmarks as they were once published.
    pub benchmarks: Vec<Benchmark>,
    pub leaderboard: Leaderboard,
}

/// One of the paper's subtasks, or one of ReSi's grounding tests, as a benchmark of this run.
struct Subtask {
    slug: &'static str,
    /// For the legend under the table.
    summary: &'static str,
    description: &'static str,
    /// The score whose differences are y; none for the tests that read only distances.
    score: Option<&'static str>,
    select: Value,
    protocol: Value,
}

/// The paper's four subtasks, then ReSi's separation and monotonicity tests.
fn subtasks() -> Vec<Subtask> {
    let reference = |group_by: &str| json!({"kind": "reference", "group_by": group_by, "compare_to": "same_group"});
    vec![
        Subtask {
            slug: "layer-depth",
            summary: "probe accuracy across the layers of each pretrained network",
            description: "Subtask 1, layer depth: in each pretrained network, the layer with \
                          the best linear probe against every layer; f = probe accuracy.",
            score: Some("probe_acc"),
            select: json!({"metadata": {"stage": "pretrained"}}),
            protocol: reference("seed"),
        },
        Subtask {
            slug: "pc-deletion",
            summary: "probe accuracy after deleting principal components, within each layer",
            description: "Subtask 2, principal-component deletion: within each layer, the best \
                          pretrained representation against the others and their top-k \
                          principal-component copies; f = probe accuracy.",
            score: Some("probe_acc"),
            select: json!({"metadata": {"stage": "pretrained"}, "include_derived": true}),
            protocol: reference("layer"),
        },
        Subtask {
            slug: "finetune-seeds",
            summary: "out-of-distribution accuracy of networks finetuned from one checkpoint",
            description: "Subtask 3, finetuning seeds: networks finetuned from pretraining seed \
                          0, compared within each layer; f = out-of-distribution accuracy.",
            score: Some("ood_acc"),
            select: json!({"metadata": {"stage": "finetuned", "seed": 0}}),
            protocol: reference("layer"),
        },
        Subtask {
            slug: "pretrain-finetune-seeds",
            summary: "stress-test accuracy across pretraining x finetuning seeds",
            description: "Subtask 4, pretraining and finetuning seeds: every finetuned network, \
                          compared within each layer; f = stress-test accuracy.",
            score: Some("stress_acc"),
            select: json!({"metadata": {"stage": "finetuned"}}),
            protocol: reference("layer"),
        },
        Subtask {
            slug: "reliance",
            summary: "separation of label- from shortcut-reliant networks of one checkpoint (AUPRC)",
            description: "ReSi's separation test, as its shortcut test: within each layer, the \
                          networks finetuned from pretraining seed 0 fall into two design \
                          classes by metadata reliance (the more robust half relies on the \
                          label, the other on the shortcut), and a good metric puts a class's \
                          members closer to each other than to the other class; AUPRC per class, \
                          averaged.",
            score: None,
            select: json!({"metadata": {"stage": "finetuned", "seed": 0}}),
            protocol: json!({"kind": "separation", "by": "reliance", "group_by": "layer"}),
        },
        Subtask {
            slug: "layer-order",
            summary: "monotonicity of distance with the layers between, in each pretrained network",
            description: "ReSi's monotonicity test: within each pretrained network, a layer's \
                          distance to the others should grow with the number of layers in \
                          between; Spearman correlation per layer, averaged.",
            score: None,
            select: json!({"metadata": {"stage": "pretrained"}}),
            protocol: json!({"kind": "monotonicity"}),
        },
    ]
}

impl Subtask {
    fn definition(&self, run_id: &str, metrics: &[Metric]) -> Value {
        let mut definition = json!({
            "name": format!("{run_id}-{}", self.slug),
            "description": self.description,
            "dataset": run_id,
            "select": self.select,
            "protocol": self.protocol,
            "metrics": metrics.iter().map(|metric| metric.name()).collect::<Vec<_>>(),
        });
        if let Some(score) = self.score {
            definition["score"] = json!(score);
        }
        definition
    }
}

/// The service's ids for one network: its model and its representation at each layer.
struct Uploaded {
    model: i64,
    layers: Vec<i64>,
}

/// Runs the demo against the service at `args.url`, printing as it goes; returns what it made.
pub async fn run(args: &DemoArgs) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let metrics = match &args.metrics {
        Some(list) => parse_metric_list(list)?,
        None => Metric::PAPER.to_vec(),
    };
    let client = Client::new(&args.url, args.token.as_deref())?;
    client.check_ready().await?;
    let run_id = format!("demo-{:08x}", rand::random::<u32>());

    let spec = StudySpec::new(
        args.n,
        args.d,
        args.layers,
        args.models,
        args.finetunes,
        args.seed,
    );
    println!(
        "{run_id}: a synthetic study of {} pretrained and {} finetuned networks x {} layers, \
         {} inputs x {} features (seed {})",
        spec.pretrain_seeds,
        spec.pretrain_seeds * spec.finetune_seeds,
        spec.layers,
        spec.n,
        spec.d,
        spec.seed
    );
    let study = {
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || Study::generate(&spec))
            .await
            .context("generating the synthetic study")??
    };

    let dataset = NewDataset {
        name: run_id.clone(),
        n_rows: Some(spec.n as i64),
        description: Some(
            "simbench demo: synthetic inputs with binary labels driven by a latent direction"
                .to_owned(),
        ),
    };
    client.create_dataset(&dataset).await?;
    let (pretrained, finetuned) = upload_study(&client, &run_id, &study).await?;
    let copies = derive_copies(&client, &pretrained, &spec.pca_keep).await?;
    let scores = scores_of(&study, &pretrained, &finetuned, &copies)?;
    client.set_scores(&scores).await?;
    println!("{} scores set", scores.len());

    let subtasks = subtasks();
    let mut benchmarks = Vec::with_capacity(subtasks.len());
    for subtask in &subtasks {
        let benchmark = client
            .create_benchmark(&subtask.definition(&run_id, &metrics))
            .await?;
        let left_out = benchmark.left_out.as_array().map_or(0, Vec::len);
        if left_out > 0 {
            println!(
                "note: benchmark {} left out {left_out} representations",
                benchmark.name
            );
        }
        benchmarks.push(benchmark);
    }
    println!(
        "{} benchmarks created ({}); the service's workers compute {} metrics on every pair they \
         need",
        benchmarks.len(),
        benchmarks
            .iter()
            .map(|benchmark| format!("#{}", benchmark.id))
            .collect::<Vec<_>>()
            .join(", "),
        metrics.len()
    );
    let finished = wait_for(&client, &benchmarks).await?;
    for benchmark in &finished {
        match benchmark.status {
            BenchmarkStatus::Done => {}
            BenchmarkStatus::Failed => println!(
                "note: {} distances of {} failed; GET /v1/benchmarks/{}/results says which",
                benchmark.progress.failed, benchmark.name, benchmark.id
            ),
            other => println!("note: benchmark {} ended {}", benchmark.name, other.name()),
        }
    }

    let mut published = Vec::with_capacity(finished.len());
    for benchmark in &finished {
        published.push(client.publish(benchmark.id).await?);
    }
    let leaderboard = client.leaderboard().await?;
    println!(
        "\nLeaderboard ({} published benchmarks): Spearman ρ between each metric's distance and \
         the difference in function (the separation test's AUPRC and the monotonicity test's \
         correlation where the header says so), higher is better",
        leaderboard.benchmarks.len()
    );
    print!("\n{}", table::render(&leaderboard, &run_id));
    println!();
    for (subtask, benchmark) in subtasks.iter().zip(&published) {
        println!(
            "  {:<24} #{:<5} {}",
            subtask.slug, benchmark.id, subtask.summary
        );
    }
    let prefix = format!("{run_id}-");
    for column in &leaderboard.benchmarks {
        if !column.name.starts_with(&prefix) {
            println!("  #{:<5} {}", column.id, column.name);
        }
    }
    println!(
        "\nPer group, Kendall τ and p-values: GET {}/v1/benchmarks/<id>/results; the points \
         behind them: /v1/benchmarks/<id>/pairs?metric=cka&group=<group>.",
        client.base_url()
    );
    println!(
        "Every finetuned network's logits are stored too, for ReSi's output-based tests: a \
         benchmark with \"functional\": {{\"kind\": \"disagreement\"}} (or \"jsd\") and \
         \"protocol\": {{\"kind\": \"all_pairs\", \"group_by\": \"layer\"}} on dataset {run_id} \
         correlates distances with how often two networks' predictions differ."
    );
    println!("\nIn a browser (log in with the same token):");
    println!(
        "  the leaderboard      {}/ui/leaderboard",
        client.base_url()
    );
    if let [first, second, ..] = pretrained.as_slice() {
        println!(
            "  two networks' layers {}/ui/compare?dataset={run_id}&a={}&b={}&metric=cka&metric=cca_mean",
            client.base_url(),
            first.model,
            second.model
        );
    }
    println!("Done in {:.1} s.", started.elapsed().as_secs_f64());
    Ok(DemoReport {
        run_id,
        benchmarks: published,
        leaderboard,
    })
}

/// Registers every network as a model tagged `demo` and uploads its layers as float32 `.npy`
/// bodies; returns the ids of the pretrained and of the finetuned networks, in study order.
async fn upload_study(
    client: &Client,
    run_id: &str,
    study: &Study,
) -> anyhow::Result<(Vec<Uploaded>, Vec<Uploaded>)> {
    let networks: Vec<&Network> = study.pretrained.iter().chain(&study.finetuned).collect();
    let total: usize = networks.iter().map(|network| network.layers.len()).sum();
    let mut bar = ProgressBar::new("uploads", total as u64);
    let mut uploads = stream::iter(networks.iter().map(|network| async move {
        let (name, metadata) = model_identity(run_id, study, network);
        let new = NewModel {
            name,
            metadata,
            tags: vec![DEMO_TAG.to_owned(), run_id.to_owned()],
        };
        let model = client.create_model(&new).await?.id;
        let mut layers = Vec::with_capacity(network.layers.len());
        for (index, layer) in network.layers.iter().enumerate() {
            let npy = CanonicalMatrix::from_f64_as(Dtype::Float32, &layer.activations).to_npy();
            layers.push(client.upload(model, run_id, index, npy).await?.id);
        }
        if let Some(logits) = &network.outputs {
            let npy = CanonicalMatrix::from_f64_as(Dtype::Float32, logits).to_npy();
            client.put_outputs(model, run_id, npy).await?;
        }
        anyhow::Ok(Uploaded { model, layers })
    }))
    .buffered(CONCURRENT_REQUESTS);
    let mut uploaded = Vec::with_capacity(networks.len());
    while let Some(network) = uploads.try_next().await? {
        bar.advance(network.layers.len() as u64);
        uploaded.push(network);
    }
    bar.finish();
    let finetuned = uploaded.split_off(study.pretrained.len());
    Ok((uploaded, finetuned))
}

/// A model's name and metadata: benchmarks select by `stage` and group by `seed`; the
/// separation test's design classes are a finetuned network's `reliance`.
fn model_identity(run_id: &str, study: &Study, network: &Network) -> (String, Value) {
    let seed = network.pretrain_seed;
    match network.finetuning {
        None => (
            format!("{run_id}-pretrained-s{seed}"),
            json!({"stage": "pretrained", "seed": seed}),
        ),
        Some(finetuning) => (
            format!("{run_id}-finetuned-s{seed}-f{}", finetuning.seed),
            json!({"stage": "finetuned", "seed": seed, "finetune_seed": finetuning.seed,
                   "reliance": reliance(study, seed, finetuning.robustness)}),
        ),
    }
}

/// What a finetuned network relies on, as a design class: `label` for the more robust half of
/// the networks finetuned from its checkpoint, `shortcut` for the other half (ReSi's shortcut
/// test, with the study's robustness ρ as the design).
fn reliance(study: &Study, pretrain_seed: usize, robustness: f64) -> &'static str {
    let siblings: Vec<f64> = study
        .finetuned
        .iter()
        .filter(|network| network.pretrain_seed == pretrain_seed)
        .filter_map(|network| network.finetuning.map(|finetuning| finetuning.robustness))
        .collect();
    let less_robust = siblings.iter().filter(|other| **other < robustness).count();
    if 2 * less_robust >= siblings.len() {
        "label"
    } else {
        "shortcut"
    }
}

/// Asks the service for the principal-component copies of every pretrained representation;
/// returns, per network and layer, the copies' ids by k.
async fn derive_copies(
    client: &Client,
    pretrained: &[Uploaded],
    pca_keep: &[usize],
) -> anyhow::Result<Vec<Vec<BTreeMap<usize, i64>>>> {
    let representations: Vec<(usize, i64)> = pretrained
        .iter()
        .enumerate()
        .flat_map(|(network, uploaded)| uploaded.layers.iter().map(move |&id| (network, id)))
        .collect();
    let mut bar = ProgressBar::new("representations copied", representations.len() as u64);
    let mut requests = stream::iter(representations.iter().map(|&(network, id)| async move {
        let copies = client.derive_pca_copies(id, pca_keep).await?;
        anyhow::Ok((network, copies))
    }))
    .buffered(CONCURRENT_REQUESTS);
    let mut by_network: Vec<Vec<BTreeMap<usize, i64>>> = vec![Vec::new(); pretrained.len()];
    while let Some((network, copies)) = requests.try_next().await? {
        bar.advance(1);
        by_network[network].push(copies.iter().map(|copy| (copy.pca_keep, copy.id)).collect());
    }
    bar.finish();
    Ok(by_network)
}

/// Every score of the study, attached to the service's ids: probe accuracy per representation
/// (and per principal-component copy), out-of-distribution and stress-test accuracy per
/// finetuned model.
fn scores_of(
    study: &Study,
    pretrained: &[Uploaded],
    finetuned: &[Uploaded],
    copies: &[Vec<BTreeMap<usize, i64>>],
) -> anyhow::Result<Vec<ScoreItem>> {
    let mut scores = Vec::new();
    let probe =
        |id: i64, value: f64| ScoreItem::new(ScoreTarget::Representation(id), "probe_acc", value);
    for ((network, uploaded), network_copies) in study.pretrained.iter().zip(pretrained).zip(copies)
    {
        for ((layer, &id), layer_copies) in network
            .layers
            .iter()
            .zip(&uploaded.layers)
            .zip(network_copies)
        {
            scores.push(probe(id, layer.probe_acc));
            for &(k, accuracy) in &layer.pca_probe_acc {
                let copy = layer_copies.get(&k).with_context(|| {
                    format!("the service returned no top-{k} copy of representation {id}")
                })?;
                scores.push(probe(*copy, accuracy));
            }
        }
    }
    for (network, uploaded) in study.finetuned.iter().zip(finetuned) {
        for (layer, &id) in network.layers.iter().zip(&uploaded.layers) {
            scores.push(probe(id, layer.probe_acc));
        }
        let Some(finetuning) = network.finetuning else {
            bail!("a finetuned network of the study has no finetuning record");
        };
        for (name, value) in [
            ("ood_acc", finetuning.ood_acc),
            ("stress_acc", finetuning.stress_acc),
        ] {
            scores.push(ScoreItem::new(
                ScoreTarget::Model(uploaded.model),
                name,
                value,
            ));
        }
    }
    Ok(scores)
}

/// Polls the benchmarks, with a progress bar over the pairs they compare (summed over the benchmarks:
/// a pair two of them share counts twice), until none is queued or running; returns their final
/// states.
async fn wait_for(client: &Client, benchmarks: &[Benchmark]) -> anyhow::Result<Vec<Benchmark>> {
    let mut bar = ProgressBar::new("pairs compared", 0);
    let mut last_done = None;
    let mut last_change = Instant::now();
    loop {
        let mut states = Vec::with_capacity(benchmarks.len());
        for benchmark in benchmarks {
            states.push(client.benchmark(benchmark.id).await?);
        }
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        let total = states.iter().map(|state| count(state.progress.total)).sum();
        let done = states
            .iter()
            .map(|state| count(state.progress.done + state.progress.failed))
            .sum();
        bar.set(done, total);
        if states.iter().all(|state| !state.status.is_pending()) {
            bar.finish();
            return Ok(states);
        }
        if last_done != Some(done) {
            last_done = Some(done);
            last_change = Instant::now();
        } else if last_change.elapsed() > STALL_LIMIT {
            bar.finish();
            bail!(
                "no distance was computed for {} s: is a worker running? `simbench serve` starts \
                 workers unless SIMBENCH_WORKERS=0; `simbench worker` runs more",
                STALL_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
