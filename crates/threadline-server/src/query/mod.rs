//! Query APIs: one module per API, each reading the store and encoding what it finds.

pub mod zipkin;
