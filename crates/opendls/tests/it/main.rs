//! The `opendls` command against a real service: exit codes and output.

mod admin_tls;
mod backup;
mod bench_delay;
mod cli;
mod cluster;
mod descriptors;
mod dhcp;
mod files;
mod first_hour;
mod interop;
mod manuals;
mod plug_and_play;
mod site;
mod support;
mod users;
