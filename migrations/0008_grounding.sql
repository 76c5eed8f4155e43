-- Grounding tests (docs/PROTOCOLS.md): what a benchmark's y is (`functional`), its permutation
-- p-values, and the differences between models' outputs a run takes its y's from.

-- {"kind": "score_difference", "score": NAME} | {"kind": "disagreement"} | {"kind": "jsd"}; the
-- benchmarks of before were all score differences. score_name stays beside it, set exactly when y
-- is a score difference, for the statements that look benchmarks up by score.
ALTER TABLE benchmarks ADD COLUMN functional jsonb;
UPDATE benchmarks
SET functional = jsonb_build_object('kind', 'score_difference', 'score', score_name);
ALTER TABLE benchmarks ALTER COLUMN score_name DROP NOT NULL;

-- {"resamples": R, "seed": s}, as validated; absent without permutation p-values.
ALTER TABLE benchmarks ADD COLUMN permutation jsonb;

-- With y from model outputs: [[model_a, model_b, y], ...] for every pair of the run's models
-- (model_a < model_b), computed when the run was planned, so that its results keep describing
-- the outputs as they were.
ALTER TABLE benchmarks ADD COLUMN model_differences jsonb;

-- A member of a run whose y comes from model outputs has no score.
ALTER TABLE benchmark_members ALTER COLUMN score DROP NOT NULL;
