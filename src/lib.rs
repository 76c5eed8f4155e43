//! simbench: grounding representation-similarity metrics in function, as a service.
//!
//! See `README.md` for the science and the API. The module tree follows the architecture:
//! `http` (thin handlers) calls `store` (every SQL statement) and `matrix` (codecs); `metrics`
//! and `stats` are pure numerics.

// Links the system OpenBLAS that ndarray's `blas` feature and ndarray-linalg call into.
extern crate blas_src;

pub mod access;
pub mod app;
pub mod benchmark;
pub mod cli;
pub mod config;
pub mod http;
pub mod matrix;
pub mod metrics;
pub mod stats;
pub mod store;
pub mod synthetic;
pub mod telemetry;
pub mod transform;
pub mod ui;
pub mod worker;
