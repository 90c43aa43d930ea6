//! Finding the rotated copy of a file truncated under us (logrotate's `copytruncate`), so the
//! lines we had not read yet are read from the copy instead of lost. A copy is a sibling in
//! the same directory whose name starts with the file's (`app.log.1`, `app.log-20261204`,
//! `app.log.1.gz`), whether the include globs match it or not, whose first bytes hash to the
//! file's fingerprint and whose bytes just before our offset hash to what we read there
//! ([`find`]). A gzipped copy (`compress`, or `delaycompress` a rotation later) is read
//! through gzip.
//!
//! A source far behind may find the file rotated several times since it last read it: the
//! generations between the one it was reading and the file as it is now are the copies made
//! after that one's ([`newer`]), read whole, oldest first (a copy keeps its time when renamed
//! or compressed; its own gzip is told apart by its first bytes).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;
use logcatch_core::checkpoint::Fingerprint;

use super::identity::{self, TAIL_BYTES};

/// A copy found, positioned at the offset the file had been read to.
pub struct Copy {
    /// Where it was found.
    pub path: PathBuf,
    /// Its bytes from that offset on.
    pub reader: Reader,
    /// When it was last written: the generations after it are the copies made later.
    pub modified: SystemTime,
    /// Something was read from it (counted in `copies_read` then).
    pub read_any: bool,
}

/// A gzipped copy being read: bytes already decompressed while checking it, then the rest.
pub type Gunzip = std::io::Chain<std::io::Cursor<Vec<u8>>, MultiGzDecoder<BufReader<File>>>;

/// The bytes of a copy, plain or through gzip.
pub enum Reader {
    /// A plain copy (`app.log.1`).
    Plain(File),
    /// A compressed copy (`app.log.1.gz`).
    /// (What it holds past the offset of its first bytes, read while checking them, then the
    /// rest.)
    Gzip(Box<Gunzip>),
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Reader::Plain(f) => f.read(buf),
            Reader::Gzip(g) => g.read(buf),
        }
    }
}

impl Copy {
    /// The plain copy's file (for the signature of the bytes before a checkpoint); `None`
    /// for a gzipped one, which cannot be read at an offset.
    pub fn plain(&self) -> Option<&File> {
        match &self.reader {
            Reader::Plain(f) => Some(f),
            Reader::Gzip(_) => None,
        }
    }
}

/// What the file we lost was when we had read it to `offset`.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// Its path: copies are looked for next to it.
    pub path: &'a Path,
    /// Its own `device:inode`, which is not a copy of itself.
    pub key: &'a str,
    /// The hash of its first bytes.
    pub head: Fingerprint,
    /// The hash of the bytes just before `offset`, if known.
    pub tail: Option<Fingerprint>,
    /// Where it had been read to.
    pub offset: u64,
}

/// Finds the copy of `wanted` with the bytes past its offset, opened there: plain copies
/// first (a copy being compressed still has its plain one), the newest first. A copy with
/// the same first bytes but shorter than the offset (made before we read past its end) is
/// taken, at its end, if no other is found: it has nothing for us, but the copies made after
/// it are generations we never saw. `None` when no sibling has the same first bytes (and a
/// file of which nothing is known, no head, has no copy to find).
pub fn find(wanted: Wanted<'_>) -> std::io::Result<Option<Copy>> {
    if wanted.head.len == 0 {
        return Ok(None);
    }
    let mut short = None;
    for Candidate {
        path,
        gzip,
        modified,
    } in candidates(wanted.path, wanted.key)?
    {
        let found = if gzip {
            open_gzip(&path, wanted)
        } else {
            open_plain(&path, wanted)
        };
        match found {
            Ok(Some((reader, whole))) => {
                let copy = Copy {
                    path,
                    reader,
                    modified,
                    read_any: false,
                };
                if whole {
                    return Ok(Some(copy));
                }
                short.get_or_insert(copy);
            }
            Ok(None) => {}
            // Gone since the listing (compressed, or rotated out): look at the others.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::debug!(path = %path.display(), "cannot read a possible rotated copy: {e}")
            }
        }
    }
    Ok(short)
}

/// The oldest copy of a later generation of the file at `path` than the copy `after` (made
/// at `after.modified`, starting with the bytes `after.head`), opened at 0, with the hash of
/// its first bytes. `None` when there is none: the file itself is the next generation.
pub fn newer(
    path: &Path,
    key: &str,
    after: SystemTime,
    after_head: Fingerprint,
) -> std::io::Result<Option<(Copy, Fingerprint)>> {
    let mut later: Vec<Candidate> = candidates(path, key)?
        .into_iter()
        .filter(|c| c.modified > after)
        .collect();
    // Oldest first; of a copy and its gzip in the making, the plain one.
    later.sort_by(|a, b| {
        a.modified
            .cmp(&b.modified)
            .then(a.gzip.cmp(&b.gzip))
            .then(a.path.cmp(&b.path))
    });
    for c in later {
        let opened = (|| -> std::io::Result<Option<(Reader, Fingerprint)>> {
            let mut reader = if c.gzip {
                let gz = MultiGzDecoder::new(BufReader::new(File::open(&c.path)?));
                Reader::Gzip(Box::new(std::io::Cursor::new(Vec::new()).chain(gz)))
            } else {
                Reader::Plain(File::open(&c.path)?)
            };
            let head = read_exactly(&mut reader, identity::FINGERPRINT_BYTES)?;
            let same = head.len() >= after_head.len as usize
                && xxhash_rust::xxh3::xxh3_64(&head[..after_head.len as usize]) == after_head.hash;
            if same || head.is_empty() {
                return Ok(None); // the copy already read (compressed since), or empty
            }
            let fingerprint = Fingerprint {
                len: head.len() as u32,
                hash: xxhash_rust::xxh3::xxh3_64(&head),
            };
            // Read again from 0: the head is part of what it holds.
            let reader = match reader {
                Reader::Plain(mut f) => {
                    f.seek(SeekFrom::Start(0))?;
                    Reader::Plain(f)
                }
                Reader::Gzip(g) => {
                    let (_, gz) = g.into_inner();
                    Reader::Gzip(Box::new(std::io::Cursor::new(head).chain(gz)))
                }
            };
            Ok(Some((reader, fingerprint)))
        })();
        match opened {
            Ok(Some((reader, head))) => {
                let copy = Copy {
                    path: c.path,
                    reader,
                    modified: c.modified,
                    read_any: false,
                };
                return Ok(Some((copy, head)));
            }
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::debug!(path = %c.path.display(), "cannot read a possible rotated copy: {e}")
            }
        }
    }
    Ok(None)
}

/// A sibling that may be a copy.
struct Candidate {
    path: PathBuf,
    gzip: bool,
    modified: SystemTime,
}

/// The siblings of `path` that may be its copies: regular files other than it whose names
/// start with its name (`app.log.1`, `app.log-20261204.gz`), plain ones first, each kind
/// newest first.
fn candidates(path: &Path, key: &str) -> std::io::Result<Vec<Candidate>> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(Vec::new());
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut found: Vec<Candidate> = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other == name || !other.starts_with(&name) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() || identity::key_of(&meta) == key {
            continue;
        }
        found.push(Candidate {
            gzip: other.ends_with(".gz"),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            path,
        });
    }
    found.sort_by(|a, b| {
        a.gzip
            .cmp(&b.gzip)
            .then(b.modified.cmp(&a.modified))
            .then(a.path.cmp(&b.path))
    });
    Ok(found)
}

/// `path` opened at the offset, if it holds the file's bytes up to there (true), or at its
/// end if it has the same first bytes but ends before the offset (false).
fn open_plain(path: &Path, wanted: Wanted<'_>) -> std::io::Result<Option<(Reader, bool)>> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    if size < wanted.head.len as u64
        || identity::fingerprint(&file, wanted.head.len as u64)? != wanted.head
    {
        return Ok(None);
    }
    if size < wanted.offset {
        file.seek(SeekFrom::End(0))?;
        return Ok(Some((Reader::Plain(file), false)));
    }
    if wanted.tail.is_some() && identity::tail_signature(&file, wanted.offset)? != wanted.tail {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(wanted.offset))?;
    Ok(Some((Reader::Plain(file), true)))
}

/// The gzipped `path` read up to the offset, if what it holds starts with the file's bytes
/// (true), or to its end if it ends before the offset (false).
fn open_gzip(path: &Path, wanted: Wanted<'_>) -> std::io::Result<Option<(Reader, bool)>> {
    let mut gz = MultiGzDecoder::new(BufReader::new(File::open(path)?));
    let (offset, head_len) = (wanted.offset, wanted.head.len as u64);
    let head = read_exactly(&mut gz, head_len)?;
    if head.len() as u64 != head_len || xxhash_rust::xxh3::xxh3_64(&head) != wanted.head.hash {
        return Ok(None);
    }
    // The bytes from `window_start` to the offset (or to the head's end, if it is longer):
    // the ones before the offset to check, and any of the head past it to read again.
    let tail_from = offset.saturating_sub(TAIL_BYTES);
    let (window_start, mut window) = if tail_from >= head_len {
        let skip = tail_from - head_len;
        if std::io::copy(&mut (&mut gz).take(skip), &mut std::io::sink())? != skip {
            return Ok(Some((Reader::Gzip(Box::new(empty().chain(gz))), false)));
        }
        (tail_from, Vec::new())
    } else {
        (0, head)
    };
    let have = window_start + window.len() as u64;
    if offset > have {
        let more = read_exactly(&mut gz, offset - have)?;
        if (more.len() as u64) < offset - have {
            return Ok(Some((Reader::Gzip(Box::new(empty().chain(gz))), false)));
        }
        window.extend_from_slice(&more);
    }
    let at = |o: u64| (o - window_start) as usize;
    if let Some(tail) = wanted.tail {
        let before = &window[at(tail_from)..at(offset)];
        if before.len() != tail.len as usize || xxhash_rust::xxh3::xxh3_64(before) != tail.hash {
            return Ok(None);
        }
    }
    let past = window.split_off(at(offset));
    Ok(Some((
        Reader::Gzip(Box::new(std::io::Cursor::new(past).chain(gz))),
        true,
    )))
}

fn empty() -> std::io::Cursor<Vec<u8>> {
    std::io::Cursor::new(Vec::new())
}

/// Up to `len` bytes of `r` (fewer at its end).
fn read_exactly(r: &mut impl Read, len: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len.min(1 << 16) as usize);
    r.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn fp(bytes: &[u8]) -> Fingerprint {
        Fingerprint {
            len: bytes.len() as u32,
            hash: xxhash_rust::xxh3::xxh3_64(bytes),
        }
    }

    fn rest(copy: Option<Copy>) -> Option<(String, String)> {
        let mut copy = copy?;
        let mut text = String::new();
        copy.reader.read_to_string(&mut text).unwrap();
        let name = copy
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Some((name, text))
    }

    fn gzip(path: &Path, bytes: &[u8]) {
        let mut gz =
            flate2::write::GzEncoder::new(File::create(path).unwrap(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap();
    }

    /// `app.log` held `content` and was read to `offset`; what `find` says.
    fn find_in(dir: &Path, content: &[u8], offset: usize) -> Option<(String, String)> {
        let live = dir.join("app.log");
        let key = identity::key_of(&std::fs::metadata(&live).unwrap());
        let tail_from = offset.saturating_sub(TAIL_BYTES as usize);
        let wanted = Wanted {
            path: &live,
            key: &key,
            head: fp(&content[..offset.min(1024)]),
            tail: Some(fp(&content[tail_from..offset])),
            offset: offset as u64,
        };
        rest(find(wanted).unwrap())
    }

    fn lines(from: u64, to: u64) -> Vec<u8> {
        (from..to)
            .map(|n| format!("line {n}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn the_copy_is_found_by_its_bytes_whatever_its_suffix() {
        let d = tempfile::tempdir().unwrap();
        let old = lines(0, 300);
        std::fs::write(d.path().join("app.log"), lines(300, 310)).unwrap();
        std::fs::write(d.path().join("app.log-20261204"), &old).unwrap();
        std::fs::write(d.path().join("app.log.2"), lines(5000, 6000)).unwrap();
        std::fs::write(d.path().join("other.log"), &old).unwrap();
        std::fs::write(d.path().join("app-error.log"), &old).unwrap();
        let (name, text) = find_in(d.path(), &old, 1000).unwrap();
        assert_eq!(name, "app.log-20261204");
        assert_eq!(text.as_bytes(), &old[1000..]);
    }

    #[test]
    fn a_gzipped_copy_is_read_through_gzip() {
        let d = tempfile::tempdir().unwrap();
        let old = lines(0, 3000);
        std::fs::write(d.path().join("app.log"), b"").unwrap();
        gzip(&d.path().join("app.log.1.gz"), &old);
        gzip(&d.path().join("app.log.2.gz"), &lines(7000, 9000));
        for offset in [10, 100, 1030, 20_000] {
            let (name, text) = find_in(d.path(), &old, offset).unwrap();
            assert_eq!(name, "app.log.1.gz");
            assert_eq!(text.as_bytes(), &old[offset..], "at {offset}");
        }
    }

    #[test]
    fn a_plain_copy_is_preferred_to_its_gzip_in_the_making() {
        let d = tempfile::tempdir().unwrap();
        let old = lines(0, 3000);
        std::fs::write(d.path().join("app.log"), b"").unwrap();
        std::fs::write(d.path().join("app.log.1"), &old).unwrap();
        gzip(&d.path().join("app.log.1.gz"), &old[..500]); // being written
        let (name, _) = find_in(d.path(), &old, 2000).unwrap();
        assert_eq!(name, "app.log.1");
    }

    #[test]
    fn the_generations_after_a_copy_are_the_later_copies_oldest_first() {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("app.log");
        std::fs::write(&live, lines(900, 910)).unwrap();
        let key = identity::key_of(&std::fs::metadata(&live).unwrap());
        let at = |s: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let put = |name: &str, bytes: &[u8], t: u64, gz: bool| {
            let p = d.path().join(name);
            if gz {
                gzip(&p, bytes);
            } else {
                std::fs::write(&p, bytes).unwrap();
            }
            File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(at(t))
                .unwrap();
        };
        let (g1, g2, g3) = (lines(0, 100), lines(100, 200), lines(200, 300));
        put("app.log.4", &lines(5000, 5100), 50, false); // older than g1: read before
        put("app.log.3", &g1, 100, false);
        put("app.log.3.gz", &g1, 150, true); // g1 compressed since: the same generation
        put("app.log.2.gz", &g2, 200, true);
        put("app.log.1", &g3, 300, false);
        let mut after = (at(100), fp(&g1[..500]));
        let mut got = Vec::new();
        while let Some((mut copy, head)) = newer(&live, &key, after.0, after.1).unwrap() {
            let mut text = String::new();
            copy.reader.read_to_string(&mut text).unwrap();
            got.push((
                copy.path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                text,
            ));
            after = (copy.modified, head);
        }
        let want = [
            ("app.log.2.gz".to_owned(), String::from_utf8(g2).unwrap()),
            ("app.log.1".to_owned(), String::from_utf8(g3).unwrap()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn no_copy_when_no_sibling_has_the_same_bytes() {
        let d = tempfile::tempdir().unwrap();
        let old = lines(0, 300);
        std::fs::write(d.path().join("app.log"), &old).unwrap();
        // Same head, other bytes before the offset: a later generation with a banner.
        let mut other = old[..1000].to_vec();
        other.extend_from_slice(&lines(9000, 9100));
        std::fs::write(d.path().join("app.log.1"), &other).unwrap();
        assert!(find_in(d.path(), &old, 2000).is_none());
        assert!(
            find_in(d.path(), &old, 1000).is_some(),
            "it is the copy up to 1000"
        );
        // Shorter than the offset: found, with nothing to read.
        std::fs::write(d.path().join("app.log.2"), &old[..1500]).unwrap();
        assert_eq!(
            find_in(d.path(), &old, 2000),
            Some(("app.log.2".into(), String::new()))
        );
        gzip(&d.path().join("app.log.2"), &old[..1500]);
        std::fs::rename(d.path().join("app.log.2"), d.path().join("app.log.2.gz")).unwrap();
        assert_eq!(
            find_in(d.path(), &old, 2000),
            Some(("app.log.2.gz".into(), String::new()))
        );
        // The live file itself is no copy of itself.
        std::fs::remove_file(d.path().join("app.log.1")).unwrap();
        std::fs::remove_file(d.path().join("app.log.2.gz")).unwrap();
        assert!(find_in(d.path(), &old, 1000).is_none());
    }
}
