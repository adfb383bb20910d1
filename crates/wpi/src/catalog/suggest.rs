//! "Did you mean": the catalog names closest to a name it does not hold.

use super::Catalog;

/// At most this many suggestions are offered.
const MAX_SUGGESTIONS: usize = 3;

impl Catalog {
    /// The catalog names an unknown `name` was probably meant to be, best first: the same name
    /// in another case (names are case-sensitive on the phone), else the names a few typing
    /// mistakes away. Empty when nothing is close.
    pub fn suggestions(&self, name: &str) -> Vec<&str> {
        if let Some(same) = self.entries.iter().find(|e| e.name.eq_ignore_ascii_case(name)) {
            return vec![same.name.as_str()];
        }
        let wanted = name.to_ascii_lowercase();
        // One mistake per four characters, at least one and at most three.
        let tolerance = (wanted.chars().count() / 4).clamp(1, 3);
        let mut close: Vec<(usize, &str)> = self
            .entries
            .iter()
            .filter_map(|e| {
                let distance = edit_distance(&wanted, &e.name.to_ascii_lowercase());
                (distance <= tolerance).then_some((distance, e.name.as_str()))
            })
            .collect();
        close.sort();
        close.into_iter().take(MAX_SUGGESTIONS).map(|(_, name)| name).collect()
    }
}

/// The Levenshtein distance: insertions, deletions and substitutions of one character.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// `did you mean a or b?`, or nothing when there is no suggestion.
pub fn did_you_mean(suggestions: &[&str]) -> Option<String> {
    match suggestions {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        [rest @ .., last] => Some(format!("did you mean {} or {last}?", rest.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("sntp-adr", "sntp-addr"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn typos_and_cases_find_the_name() {
        let catalog = Catalog::builtin();
        assert_eq!(catalog.suggestions("Sntp-Addr"), ["sntp-addr"]);
        assert_eq!(catalog.suggestions("sntp-adr")[0], "sntp-addr");
        assert!(catalog.suggestions("completely-unrelated-thing").is_empty());
        assert_eq!(did_you_mean(&["a", "b", "c"]).unwrap(), "did you mean a, b or c?");
    }
}
