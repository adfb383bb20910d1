//! The `opendls` command: one binary, one subcommand per job.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod inspect;

/// Provisioning service for OpenStage / OpenScape Desk Phone IP phones (WorkPoint Interface).
#[derive(Parser)]
#[command(name = "opendls", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a captured WPI message (phone or service side), check its items against the
    /// catalog and print them. Reads standard input when FILE is `-` or missing.
    Decode {
        /// The XML body, as captured.
        file: Option<PathBuf>,
        /// Print item values that are secrets (passwords, keys, PINs) instead of masking them.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Look up item names in the catalog: one item in full, or every name containing TEXT.
    Catalog {
        /// An exact item name or part of one; all items when missing.
        text: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Decode { file, show_secrets } => {
            read_input(file).and_then(|body| inspect::decode(&body, show_secrets))
        }
        Command::Catalog { text } => inspect::catalog(text.as_deref()),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("opendls: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn read_input(file: Option<PathBuf>) -> Result<Vec<u8>> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        }
        _ => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body).context("cannot read standard input")?;
            Ok(body)
        }
    }
}
