//! simbench: grounding representation-similarity metrics in function, as a service.
//!
//! See `README.md` for the science and the API; the module tree follows the architecture:
//! `http` (thin handlers) → `store` (all SQL) and `matrix` (codecs); `metrics` and `stats` are
//! pure numerics.

// Links the system OpenBLAS that ndarray's `blas` feature and ndarray-linalg call into.
extern crate blas_src;

pub mod cli;
pub mod matrix;
pub mod metrics;
pub mod synthetic;
pub mod telemetry;
pub mod transform;
