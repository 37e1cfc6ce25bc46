//! Integration tests: a real server on port 0 with a fresh data folder per
//! test, driven over real HTTP and WebSocket connections.

mod auth;
mod cli;
mod cluster;
mod files;
mod gateway;
mod groups;
mod helpers;
mod history;
mod identities;
mod leancloud;
mod leancloud_fidelity;
mod messages;
mod profiles;
mod recall;
mod relations;
mod rooms;
mod threads;
mod users;
mod wildfire;
mod wildfire_fidelity;
