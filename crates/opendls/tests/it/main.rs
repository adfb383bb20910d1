//! The `opendls` command against a real service: exit codes and output.

mod cli;
mod descriptors;
