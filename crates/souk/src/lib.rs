//! The `souk` binary's pieces, as a library so tests can start servers in-process.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod demo;
pub mod server;
