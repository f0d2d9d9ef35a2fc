//! The Threadline all-in-one server: span receivers, stores and query APIs.
//!
//! A span travels through the folders in order: [`receive`] (one module per wire protocol)
//! decodes a request and appends its spans to a [`store`], which the [`query`] APIs read.
//! [`error`] is the one place where a failure becomes an HTTP or gRPC status. [`server`] binds the
//! listeners and runs them until asked to stop.

pub mod error;
pub mod ops;
pub mod query;
pub mod receive;
pub mod server;
pub mod store;

pub use server::{BoundServer, ServerConfig, ServerError};
