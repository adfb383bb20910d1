//! Secret values (SIP passwords, PINs) are never needed on the command line, where every local
//! user can read them in the process list: `-` in their place reads the value from standard
//! input, with a prompt and without echo on a terminal.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};

/// What stands for "read it from standard input".
pub(crate) const FROM_STDIN: &str = "-";

/// Reads one secret: from the terminal without echo, else the first line of standard input.
pub(crate) fn read_secret(what: &str) -> Result<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{what}: ")).with_context(|| format!("cannot read {what}"))?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).with_context(|| format!("cannot read {what}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if value.is_empty() {
        bail!("{what}: nothing was given on standard input");
    }
    Ok(value)
}

/// Warns that a secret given on the command line can be read by other local users.
pub(crate) fn warn_visible(what: &str, instead: &str) {
    eprintln!(
        "warning: {what} given on the command line is visible to other users in the process list; use {instead}"
    );
}
