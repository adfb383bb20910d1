//! A backup file's encryption: a key made from the passphrase with Argon2id, the archive sealed
//! in chunks of 1 MiB with AES-256-GCM (each chunk's nonce is the file's random prefix, its
//! number and whether it is the last, so that chunks cannot be reordered, dropped or the file
//! cut short unnoticed), the header authenticated with every chunk.
//!
//! ```text
//! "OPENDLS-BACKUP" 0x00 0x01 | m_cost u32 | t_cost u32 | p_cost u32 | salt[16] | prefix[7]
//! then chunks: length u32 (top bit: last chunk) | ciphertext (plaintext + 16-byte tag)
//! ```

use std::io::{self, Read, Write};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// The first bytes of every backup file (the last byte is the format's version).
pub const MAGIC: &[u8; 16] = b"OPENDLS-BACKUP\x00\x01";

/// Plaintext bytes per chunk.
const CHUNK: usize = 1 << 20;
const TAG: usize = 16;
const LAST: u32 = 1 << 31;
const HEADER: usize = 16 + 12 + 16 + 7;

/// The shortest passphrase a backup is made with.
pub const MIN_PASSPHRASE: usize = 12;

/// Argon2id costs: 64 MiB, 3 passes (about a quarter of a second on one core of this class).
const M_COST_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_COST: u32 = 1;
/// A file asking for more memory than this is refused rather than obeyed.
const MAX_M_COST_KIB: u32 = 1024 * 1024;

/// Why a backup could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Not a backup file of this format.
    #[error("not an opendls backup (or one of a newer format)")]
    NotABackup,
    /// The first chunk did not open: the passphrase is wrong, or the file was changed.
    #[error("wrong passphrase, or the backup file was changed")]
    WrongPassphrase,
    /// A later chunk did not open, or the file ends before its last chunk.
    #[error("the backup file is damaged or cut short (after {0} bytes of its contents)")]
    Damaged(u64),
    /// The passphrase is too short to protect the keys inside.
    #[error("the passphrase must have at least {MIN_PASSPHRASE} characters")]
    WeakPassphrase,
}

fn derive_key(passphrase: &str, salt: &[u8], costs: [u32; 3]) -> Result<LessSafeKey, SealError> {
    let params =
        argon2::Params::new(costs[0], costs[1], costs[2], Some(32)).map_err(|_| SealError::NotABackup)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon.hash_password_into(passphrase.as_bytes(), salt, &mut key).map_err(|_| SealError::NotABackup)?;
    let unbound = UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte key fits AES-256");
    key.fill(0);
    Ok(LessSafeKey::new(unbound))
}

fn nonce(prefix: &[u8; 7], number: u32, last: bool) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[..7].copy_from_slice(prefix);
    bytes[7..11].copy_from_slice(&number.to_be_bytes());
    bytes[11] = u8::from(last);
    Nonce::assume_unique_for_key(bytes)
}

/// Encrypts what is written to it into `inner`; [`SealingWriter::finish`] writes the last chunk.
pub struct SealingWriter<W: Write> {
    inner: W,
    key: LessSafeKey,
    header: Vec<u8>,
    prefix: [u8; 7],
    number: u32,
    buffer: Vec<u8>,
}

impl<W: Write> SealingWriter<W> {
    /// Writes the header and returns the writer.
    pub fn new(mut inner: W, passphrase: &str) -> Result<Self, SealError> {
        if passphrase.chars().count() < MIN_PASSPHRASE {
            return Err(SealError::WeakPassphrase);
        }
        let (mut salt, mut prefix) = ([0u8; 16], [0u8; 7]);
        getrandom::fill(&mut salt).expect("the operating system's random source is available");
        getrandom::fill(&mut prefix).expect("the operating system's random source is available");
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        for cost in [M_COST_KIB, T_COST, P_COST] {
            header.extend_from_slice(&cost.to_be_bytes());
        }
        header.extend_from_slice(&salt);
        header.extend_from_slice(&prefix);
        let key = derive_key(passphrase, &salt, [M_COST_KIB, T_COST, P_COST])?;
        inner.write_all(&header)?;
        Ok(SealingWriter { inner, key, header, prefix, number: 0, buffer: Vec::with_capacity(CHUNK + TAG) })
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        let nonce = nonce(&self.prefix, self.number, last);
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(&self.header), &mut self.buffer)
            .map_err(|_| io::Error::other("sealing a backup chunk failed"))?;
        let length = self.buffer.len() as u32 | if last { LAST } else { 0 };
        self.inner.write_all(&length.to_be_bytes())?;
        self.inner.write_all(&self.buffer)?;
        self.buffer.clear();
        self.number = self.number.checked_add(1).ok_or_else(|| io::Error::other("backup too large"))?;
        Ok(())
    }

    /// Seals what is left as the last chunk and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = room.min(data.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK {
            self.seal(false)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts a sealed backup as it is read; a damaged or cut file is an error, never silently
/// short contents.
pub struct OpeningReader<R: Read> {
    inner: R,
    key: LessSafeKey,
    header: Vec<u8>,
    prefix: [u8; 7],
    number: u32,
    plain: Vec<u8>,
    at: usize,
    done: bool,
    delivered: u64,
}

impl<R: Read> OpeningReader<R> {
    /// Reads the header and derives the key; the passphrase is checked with the first chunk.
    pub fn new(mut inner: R, passphrase: &str) -> Result<Self, SealError> {
        let mut header = vec![0u8; HEADER];
        inner.read_exact(&mut header).map_err(|_| SealError::NotABackup)?;
        if &header[..16] != MAGIC {
            return Err(SealError::NotABackup);
        }
        let cost = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let costs = [cost(16), cost(20), cost(24)];
        if costs[0] > MAX_M_COST_KIB || costs[1] > 64 || costs[2] > 64 {
            return Err(SealError::NotABackup);
        }
        let key = derive_key(passphrase, &header[28..44], costs)?;
        let prefix: [u8; 7] = header[44..51].try_into().expect("7 bytes");
        let mut reader = OpeningReader {
            inner,
            key,
            header,
            prefix,
            number: 0,
            plain: Vec::new(),
            at: 0,
            done: false,
            delivered: 0,
        };
        reader.next_chunk().map_err(|error| match error {
            SealError::Damaged(0) => SealError::WrongPassphrase,
            other => other,
        })?;
        Ok(reader)
    }

    fn next_chunk(&mut self) -> Result<(), SealError> {
        let damaged = SealError::Damaged(self.delivered);
        let mut length = [0u8; 4];
        if self.inner.read_exact(&mut length).is_err() {
            return Err(damaged);
        }
        let length = u32::from_be_bytes(length);
        let (last, size) = (length & LAST != 0, (length & !LAST) as usize);
        if !(TAG..=CHUNK + TAG).contains(&size) {
            return Err(damaged);
        }
        self.plain.resize(size, 0);
        if self.inner.read_exact(&mut self.plain).is_err() {
            return Err(damaged);
        }
        let nonce = nonce(&self.prefix, self.number, last);
        let opened =
            self.key.open_in_place(nonce, Aad::from(&self.header), &mut self.plain).map_err(|_| damaged)?;
        let opened = opened.len();
        self.plain.truncate(opened);
        self.at = 0;
        self.number += 1;
        self.done = last;
        Ok(())
    }
}

impl<R: Read> Read for OpeningReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk().map_err(io::Error::other)?;
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        self.delivered += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "correct horse battery";

    fn sealed(contents: &[u8]) -> Vec<u8> {
        let mut writer = SealingWriter::new(Vec::new(), PASS).unwrap();
        writer.write_all(contents).unwrap();
        writer.finish().unwrap()
    }

    fn open(file: &[u8], passphrase: &str) -> Result<Vec<u8>, String> {
        let mut reader = OpeningReader::new(file, passphrase).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn contents_come_back_across_chunks_and_nothing_is_readable_without_the_passphrase() {
        let contents: Vec<u8> = (0..CHUNK * 2 + 1000).map(|i| (i % 251) as u8).collect();
        let file = sealed(&contents);
        assert_eq!(open(&file, PASS).unwrap(), contents);
        assert!(!file.windows(64).any(|w| contents.windows(64).next() == Some(w)), "no plaintext");
        assert_eq!(open(&file, "wrong passphrase!").unwrap_err(), SealError::WrongPassphrase.to_string());
        assert_eq!(open(&sealed(b""), PASS).unwrap(), b"");
    }

    #[test]
    fn a_cut_reordered_or_changed_file_is_refused() {
        let contents: Vec<u8> = (0..CHUNK + 10).map(|i| (i % 7) as u8).collect();
        let file = sealed(&contents);
        // Cut after the first chunk: its last-chunk flag is not set, so the end is noticed.
        let first = HEADER + 4 + CHUNK + TAG;
        assert!(open(&file[..first], PASS).unwrap_err().contains("cut short"));
        let mut changed = file.clone();
        changed[first + 10] ^= 1;
        assert!(open(&changed, PASS).unwrap_err().contains("damaged"));
        // A header changed (here the salt) no longer opens.
        let mut header = file.clone();
        header[30] ^= 1;
        assert!(open(&header, PASS).is_err());
        assert_eq!(
            open(b"PK\x03\x04 not a backup at all, longer than a header ....", PASS).unwrap_err(),
            SealError::NotABackup.to_string()
        );
    }

    #[test]
    fn short_passphrases_are_refused() {
        assert!(matches!(SealingWriter::new(Vec::new(), "short"), Err(SealError::WeakPassphrase)));
    }
}
