//! End-to-end tests: real servers on real databases, over HTTP.
#![allow(dead_code)] // shared helpers: not every test uses every field

mod admin_cli;
mod audit;
mod authz;
mod browser;
mod cache;
mod cancel;
mod catalogue;
mod chain;
mod cli;
mod concurrency;
mod crash;
mod disputes;
mod fake_upstream;
mod fixtures;
mod forwarding;
mod fuzz;
mod harness;
mod hostile;
mod jobs;
mod operator;
mod orders;
mod provider_cli;
mod providers;
mod schema;
mod sms;
mod sms_activate;
mod sms_bench;
mod supplier;
mod supply_kit;
mod transport;
mod upstream;
mod web;
mod web_account;
mod web_forms;
mod webdriver;
