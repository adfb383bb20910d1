//! The data directory holds the database (desired passwords, PINs), private keys and the admin
//! token: it is made private at every start, whoever created it and however. The directory
//! becomes 0700 and everything in it 0600 (sub-directories 0700); what could not be made
//! private stops the start with a message that says what to do.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What [`make_private`] changed, for the start-up log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tightened {
    /// Paths whose permissions were opened to others and have been closed.
    pub paths: Vec<PathBuf>,
}

/// Why the data directory could not be made private.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path}: {source}; the data directory must belong to the user running opendls, who must be able \
     to make it 0700 and its files 0600"
)]
pub struct NotPrivate {
    /// The path that could not be created or changed.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

/// Creates `dir` if needed and makes it and everything in it private.
pub fn make_private(dir: &Path) -> Result<Tightened, NotPrivate> {
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |source| NotPrivate { path, source }
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(fail(dir))?;
    let mut tightened = Tightened::default();
    tighten(dir, &mut tightened)?;
    Ok(tightened)
}

/// Creates `path` empty and private if it does not exist, so that SQLite, which gives its
/// `-wal` and `-shm` files the database file's permissions, creates those private too.
pub fn create_private_file(path: &Path) -> Result<(), NotPrivate> {
    let mut options = fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|source| NotPrivate { path: path.to_owned(), source })
}

#[cfg(unix)]
fn tighten(path: &Path, tightened: &mut Tightened) -> Result<(), NotPrivate> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |source| NotPrivate { path: path.to_owned(), source };
    // Not followed: a link's target is not ours to change.
    let meta = fs::symlink_metadata(path).map_err(fail)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let wanted = if meta.is_dir() { 0o700 } else { 0o600 };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & wanted)).map_err(fail)?;
        tightened.paths.push(path.to_owned());
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(fail)? {
            tighten(&entry.map_err(fail)?.path(), tightened)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _tightened: &mut Tightened) -> Result<(), NotPrivate> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_open_directory_and_its_files_are_made_private() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join("opendls.db"), b"x").unwrap();
        fs::set_permissions(dir.join("opendls.db"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::create_dir(dir.join("files")).unwrap();
        fs::write(dir.join("files/a"), b"x").unwrap();
        fs::set_permissions(dir.join("files/a"), fs::Permissions::from_mode(0o666)).unwrap();
        let tightened = make_private(&dir).unwrap();
        assert_eq!(tightened.paths.len(), 4, "{tightened:?}");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("opendls.db")), 0o600);
        assert_eq!(mode(&dir.join("files")), 0o700);
        assert_eq!(mode(&dir.join("files/a")), 0o600);
        assert_eq!(make_private(&dir).unwrap(), Tightened::default(), "a second start changes nothing");
    }

    #[test]
    fn a_new_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        create_private_file(&dir.path().join("db")).unwrap();
        assert_eq!(mode(&dir.path().join("db")), 0o600);
    }
}
