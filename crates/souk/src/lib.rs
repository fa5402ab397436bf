//! The `souk` binary's pieces, as a library so tests can start servers in-process.
#![forbid(unsafe_code)]

pub mod backup;
pub mod cli;
pub mod config;
pub mod demo;
pub mod progress;
pub mod server;
