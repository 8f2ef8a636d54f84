//! The local gateway: the production route table served in-process over HTTP, as API Gateway
//! would, on whichever backend the context holds. `make run` starts it on the embedded backend;
//! the acceptance suite starts it on both.

pub mod admin;
pub mod body;
pub mod demo;
pub mod docs;
pub mod import;
pub mod loopback;
pub mod server;

pub use functions::routes;
pub use server::{serve, serve_per_function, spawn};
pub use shared::route::match_route;
