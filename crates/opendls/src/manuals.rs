//! `opendls completions SHELL` and `opendls man DIR`: shell completions and man pages made from
//! the command-line definitions themselves, so they never drift from what the binary takes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Command;

/// Prints the completion script for `shell` on standard output.
pub(crate) fn completions(mut command: Command, shell: clap_complete::Shell) -> Result<ExitCode> {
    // Made in memory first: the generator panics on a write error such as a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "opendls", &mut script);
    match std::io::Write::write_all(&mut std::io::stdout(), &script) {
        // `| head`: the reader has what it wanted.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        written => written.map(|()| ExitCode::SUCCESS).context("cannot write the completion script"),
    }
}

/// Writes `opendls.1` and one page a subcommand (`opendls-device-list.1`, …) into `dir`.
pub(crate) fn man_pages(command: Command, dir: &Path) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = 0;
    write_pages(command.name("opendls"), dir, &mut written)?;
    eprintln!("wrote {} in {}", crate::output::plural(written, "man page"), dir.display());
    Ok(ExitCode::SUCCESS)
}

fn write_pages(command: Command, dir: &Path, written: &mut usize) -> Result<()> {
    let name = command.get_name().to_owned();
    // The page is named opendls-device-list; its synopsis shows the command as typed.
    let command = command.bin_name(name.replace('-', " "));
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    *written += 1;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        // A subcommand's page is named after its whole path, as git's are: opendls-device-list.
        let sub = sub.clone().name(format!("{name}-{}", sub.get_name()));
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
