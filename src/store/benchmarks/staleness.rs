//! Staleness: a benchmark whose data changed since its run says so until it is run again.
//!
//! A write marks stale the committed benchmarks its change concerns, so on its own it misses a
//! run being planned: a new benchmark's row is not committed yet, and a planning that read the
//! data before the write commits would record the run as fresh. The planning lock closes that
//! gap. Planning a run takes it alone; a transaction that may mark benchmarks stale shares it
//! from its start ([`hold_off_planning`]). Each write then either commits before the planning
//! reads the data, or marks stale after the planned run has committed.

use sqlx::PgConnection;

use super::super::ScoreTarget;
use super::super::error::StoreError;

/// The key of the planning lock, a transaction-level advisory lock ("simbench" in ASCII).
const PLANNING_LOCK: i64 = 0x7369_6d62_656e_6368;

/// Proof that the transaction shares the planning lock, asked for by every `mark_stale_*`: no run
/// is planned until the transaction ends.
#[derive(Debug)]
pub struct PlanningHeldOff(());

/// Shares the planning lock until the transaction ends, waiting for a planning in progress.
///
/// Take it before the transaction locks any row: planning locks rows too (the dataset and the
/// representations it references, the external metrics it names), so a write that locked one of
/// them first and then waited here would deadlock with it.
pub async fn hold_off_planning(tx: &mut PgConnection) -> Result<PlanningHeldOff, StoreError> {
    take_planning_lock(tx, "SELECT pg_advisory_xact_lock_shared($1)").await?;
    Ok(PlanningHeldOff(()))
}

/// Takes the planning lock alone until the transaction ends, waiting for the writes in progress;
/// the transaction's first statement, for the reason [`hold_off_planning`] gives.
pub(super) async fn exclude_writes(tx: &mut PgConnection) -> Result<(), StoreError> {
    take_planning_lock(tx, "SELECT pg_advisory_xact_lock($1)").await
}

async fn take_planning_lock(
    tx: &mut PgConnection,
    statement: &'static str,
) -> Result<(), StoreError> {
    sqlx::query(statement)
        .bind(PLANNING_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Whether benchmark `b`'s current run holds representation `r` (of model `m`), or its selection
/// takes it.
macro_rules! held_or_selected {
    () => {
        concat!(
            "(EXISTS (SELECT 1 FROM benchmark_members bm
                      WHERE bm.benchmark_id = b.id AND bm.representation_id = r.id)
              OR (",
            selection_predicate!(),
            "))"
        )
    };
}

/// Whether benchmark `b`'s current run holds a representation of model `$1`, or its selection
/// takes one.
macro_rules! holds_or_selects_model {
    () => {
        concat!(
            "EXISTS (SELECT 1 FROM representations r JOIN models m ON m.id = r.model_id
                     WHERE r.model_id = $1 AND ",
            held_or_selected!(),
            ")"
        )
    };
}

/// Marks stale the benchmarks a changed score concerns: those of that score name whose current
/// run holds a representation it applies to, or whose selection takes one.
pub async fn mark_stale_for_score(
    tx: &mut PgConnection,
    _: &PlanningHeldOff,
    target: ScoreTarget,
    name: &str,
) -> Result<(), StoreError> {
    let (representation, model) = match target {
        ScoreTarget::Representation(id) => (Some(id), None),
        ScoreTarget::Model(id) => (None, Some(id)),
    };
    sqlx::query(concat!(
        "UPDATE benchmarks b SET stale = true
         WHERE NOT b.stale AND b.score_name = $3
           AND EXISTS (
               SELECT 1 FROM representations r JOIN models m ON m.id = r.model_id
               WHERE (r.id = $1 OR r.model_id = $2)
                 AND ",
        held_or_selected!(),
        ")"
    ))
    .bind(representation)
    .bind(model)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whether benchmark `b`'s y comes from model outputs (PROTOCOLS "Functional differences").
macro_rules! functional_from_outputs {
    () => {
        "b.functional ->> 'kind' IN ('disagreement', 'jsd')"
    };
}

/// Marks stale the benchmarks whose selection takes a new representation that could take part:
/// one with their score, or whose model has outputs when their y comes from outputs.
pub async fn mark_stale_for_new_representation(
    tx: &mut PgConnection,
    _: &PlanningHeldOff,
    id: i64,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "UPDATE benchmarks b SET stale = true
         WHERE NOT b.stale AND EXISTS (
             SELECT 1 FROM representations r JOIN models m ON m.id = r.model_id
             WHERE r.id = $1 AND ",
        selection_predicate!(),
        " AND (",
        applicable_score!(),
        " IS NOT NULL OR (",
        functional_from_outputs!(),
        " AND EXISTS (SELECT 1 FROM model_outputs o
                      WHERE o.model_id = r.model_id AND o.dataset_id = b.dataset_id))))"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks stale the benchmarks whose current run holds representations about to be deleted.
pub async fn mark_stale_for_deleted(
    tx: &mut PgConnection,
    _: &PlanningHeldOff,
    ids: &[i64],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE benchmarks b SET stale = true
         WHERE NOT b.stale AND EXISTS (SELECT 1 FROM benchmark_members bm
                                       WHERE bm.benchmark_id = b.id AND bm.representation_id = ANY($1))",
    )
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks stale the benchmarks whose current run used a distance that changed: the metric is
/// theirs and both representations are members (`metrics[i]`, `rep_a[i]`, `rep_b[i]` each).
pub async fn mark_stale_for_distances(
    tx: &mut PgConnection,
    _: &PlanningHeldOff,
    metrics: &[String],
    rep_a: &[i64],
    rep_b: &[i64],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE benchmarks b SET stale = true
         WHERE NOT b.stale AND EXISTS (
             SELECT 1 FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS c(metric, rep_a, rep_b)
             WHERE c.metric = ANY(b.metrics)
               AND EXISTS (SELECT 1 FROM benchmark_members bm
                           WHERE bm.benchmark_id = b.id AND bm.representation_id = c.rep_a)
               AND EXISTS (SELECT 1 FROM benchmark_members bm
                           WHERE bm.benchmark_id = b.id AND bm.representation_id = c.rep_b))",
    )
    .bind(metrics)
    .bind(rep_a)
    .bind(rep_b)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks stale the benchmarks whose y comes from model outputs and that a change to the outputs
/// of `model_id` on `dataset_id` concerns: their current run holds a representation of the model,
/// or their selection takes one (which new outputs would let take part).
pub async fn mark_stale_for_outputs(
    tx: &mut PgConnection,
    _: &PlanningHeldOff,
    model_id: i64,
    dataset_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "UPDATE benchmarks b SET stale = true
         WHERE NOT b.stale AND b.dataset_id = $2 AND ",
        functional_from_outputs!(),
        " AND ",
        holds_or_selects_model!(),
    ))
    .bind(model_id)
    .bind(dataset_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks stale the benchmarks a change to the metadata or tags of model `model_id` concerns:
/// their current run holds one of its representations, or their selection now takes one (its
/// groups, design classes and selection read both).
pub async fn mark_stale_for_model(
    tx: &mut PgConnection,
    _: &PlanningHeldOff,
    model_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "UPDATE benchmarks b SET stale = true WHERE NOT b.stale AND ",
        holds_or_selects_model!(),
    ))
    .bind(model_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
