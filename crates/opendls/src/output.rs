//! What every printing command shares: counted nouns, and a closed standard output.

/// `n` and the noun, singular for one: "1 device", "2 devices".
pub(crate) use opendls_engine::plural;

/// `opendls job list | head`: once the reader of standard output has gone, there is nobody to
/// print for and nothing went wrong, so the command ends with success instead of the standard
/// library's panic ("failed printing to stdout: Broken pipe"). Without unsafe code SIGPIPE
/// cannot be restored to its default, so the panic that `println!` raises is caught here.
pub(crate) fn exit_quietly_when_stdout_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        if message.is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe")) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// A device's groups as listed: `sales;berlin` (the first wins), `none` when in no group (`-` in a listing).
pub(crate) fn groups_text(first: &Option<String>, others: &[String], none: &str) -> String {
    match first {
        None => none.to_owned(),
        Some(first) => std::iter::once(first).chain(others).cloned().collect::<Vec<_>>().join(";"),
    }
}

/// Counts by kind as text, in the kinds' order: `6 connect, 2 tls`.
pub(crate) fn counts_by_kind(counts: &std::collections::BTreeMap<String, u32>) -> String {
    counts.iter().map(|(kind, n)| format!("{n} {kind}")).collect::<Vec<_>>().join(", ")
}
