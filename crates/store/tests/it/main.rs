//! Contract tests of the store: what the engine decides comes back exactly, atomically.

mod files;
mod fleet;
mod jobs;
mod pins;
mod security;
mod sqlite;
