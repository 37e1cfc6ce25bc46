//! Integration tests: a real server on port 0 with a fresh data folder per
//! test, driven over real HTTP and WebSocket connections.

mod architecture;
mod auth;
mod cli;
mod cluster;
mod credentials;
mod easemob_edges;
mod edge;
mod edge_connections;
mod files;
mod fuzz;
mod gateway;
mod groups;
mod helpers;
mod history;
mod identities;
mod imports;
mod leancloud;
mod leancloud_fidelity;
mod leancloud_protocol;
mod leancloud_sdk;
mod logs;
mod messages;
mod passwords;
mod profiles;
mod recall;
mod relations;
mod rooms;
mod threads;
mod users;
mod wildfire;
mod wildfire_admin;
mod wildfire_fidelity;
mod wildfire_more;
mod wildfire_sdk;
