//! opendls' corrections to the shared catalog.
//!
//! `data/wpi-items.tsv` stays a verbatim copy of the team's shared catalog (a test keeps it so);
//! `data/wpi-items-amendments.tsv` says what opendls corrects and why, row by row. Each
//! amendment is a complete row in the catalog's eight columns, plus `replaces` (the name of the
//! row it renames, or empty) and `why`. A row whose name is already in the catalog replaces it
//! in place; a new name is added at the end.

use super::{Catalog, CatalogError, entry_from_fields};

const AMENDMENT_COLUMNS: [&str; 10] =
    ["name", "indexed", "type", "values", "access", "group", "page", "description", "replaces", "why"];

/// One correction, as read from the amendments file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amendment {
    /// The row's (new) name.
    pub name: String,
    /// The name of the shared row it renames, if it renames one.
    pub replaces: Option<String>,
    /// Why the shared row is wrong or missing.
    pub why: String,
}

impl Catalog {
    /// This catalog with the corrections of an amendments TSV applied. An amendment that
    /// renames a row the catalog lacks, or that comes without a reason, is an error: a
    /// correction must say what it corrects.
    pub fn amended(mut self, amendments_tsv: &str) -> Result<Catalog, CatalogError> {
        for (line, fields, amendment) in read_amendments(amendments_tsv)? {
            let entry = entry_from_fields(&fields[..8]).map_err(|problem| CatalogError { line, problem })?;
            let old_name = amendment.replaces.as_deref().unwrap_or(&amendment.name);
            match self.by_name.remove(old_name) {
                Some(position) => {
                    self.by_name.insert(entry.name.clone(), position);
                    self.entries[position] = entry;
                }
                None if amendment.replaces.is_some() => {
                    return Err(CatalogError {
                        line,
                        problem: format!("replaces {old_name}, which is not in the catalog"),
                    });
                }
                None => {
                    self.by_name.insert(entry.name.clone(), self.entries.len());
                    self.entries.push(entry);
                }
            }
        }
        Ok(self)
    }
}

/// The amendments of a TSV, with their line numbers.
pub fn amendments(amendments_tsv: &str) -> Result<Vec<Amendment>, CatalogError> {
    Ok(read_amendments(amendments_tsv)?.into_iter().map(|(_, _, amendment)| amendment).collect())
}

/// One amendment line: its number, its fields and what it says.
type AmendmentLine<'t> = (usize, Vec<&'t str>, Amendment);

fn read_amendments(tsv: &str) -> Result<Vec<AmendmentLine<'_>>, CatalogError> {
    let mut lines = tsv.lines().enumerate();
    let header: Vec<&str> = lines.next().map(|(_, l)| l.split('\t').collect()).unwrap_or_default();
    if header != AMENDMENT_COLUMNS {
        let problem = format!("amendments header must be {}", AMENDMENT_COLUMNS.join(" "));
        return Err(CatalogError { line: 1, problem });
    }
    let mut read = Vec::new();
    for (number, text) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let line = number + 1;
        let fields: Vec<&str> = text.split('\t').collect();
        if fields.len() != AMENDMENT_COLUMNS.len() {
            let problem = format!("{} fields, expected {}", fields.len(), AMENDMENT_COLUMNS.len());
            return Err(CatalogError { line, problem });
        }
        let why = fields[9].trim();
        if why.is_empty() {
            return Err(CatalogError { line, problem: "an amendment must say why".into() });
        }
        let replaces = Some(fields[8].trim()).filter(|r| !r.is_empty()).map(str::to_owned);
        let amendment = Amendment { name: fields[0].trim().to_owned(), replaces, why: why.to_owned() };
        read.push((line, fields, amendment));
    }
    Ok(read)
}
