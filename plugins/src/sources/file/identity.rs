//! What a file is, and the decisions taken on it, as pure functions over what was observed:
//! where reading starts when a file is found ([`start_offset`]) and what a change of its size
//! or bytes means ([`classify`]). The tail loop gathers the facts (stat, reads of the head
//! and of the bytes before the offset) and acts on the answer; the table tests below cover
//! every case of the README's list of rotations and the ones that once lost or doubled lines.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};

use logcatch_core::checkpoint::Fingerprint;

use super::StartAt;

/// Bytes hashed to tell files apart: a file is `(device, inode)` plus a hash of its first
/// (up to) this many bytes.
pub const FINGERPRINT_BYTES: u64 = 1024;

/// Bytes before the read offset whose hash is kept: a file truncated and regrown past the
/// offset with the same head (a CSV header, a banner) is told apart by them.
pub const TAIL_BYTES: u64 = 64;

/// Identity key of a file in checkpoints: `device:inode`.
pub fn key_of(meta: &std::fs::Metadata) -> String {
    format!("{}:{}", meta.dev(), meta.ino())
}

/// The hash of the first `len` bytes of `file` (fewer if it is shorter).
pub fn fingerprint(file: &File, len: u64) -> std::io::Result<Fingerprint> {
    let bytes = read_range(file, 0, len)?;
    Ok(Fingerprint {
        len: bytes.len() as u32,
        hash: xxhash_rust::xxh3::xxh3_64(&bytes),
    })
}

/// The hash of the up to [`TAIL_BYTES`] bytes of `file` just before `offset`, or `None` when
/// the file no longer has them all.
pub fn tail_signature(file: &File, offset: u64) -> std::io::Result<Option<Fingerprint>> {
    let from = offset.saturating_sub(TAIL_BYTES);
    let bytes = read_range(file, from, offset - from)?;
    Ok((bytes.len() as u64 == offset - from).then(|| Fingerprint {
        len: bytes.len() as u32,
        hash: xxhash_rust::xxh3::xxh3_64(&bytes),
    }))
}

/// Up to `len` bytes of `file` from `offset` (fewer at its end).
pub fn read_range(file: &File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// What is known of a file when it is found (at start, or by a scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its size now.
    pub size: u64,
    /// The checkpoint for its `(device, inode)`, if any: its offset, and whether the file's
    /// first bytes still hash to the checkpoint's fingerprint.
    pub checkpoint: Option<(u64, bool)>,
    /// Found by the first scan of a source that has never run before (no checkpoints at
    /// all): the only case `start_at` is for.
    pub first_start: bool,
}

/// Where reading a file starts, and why (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At its checkpoint.
    Resume(u64),
    /// At 0: a new file, or a known one truncated or rewritten while we were not reading.
    Beginning(&'static str),
    /// At its end (`start_at: end`, first start only).
    End(u64),
}

impl Start {
    /// The offset reading starts at.
    pub fn offset(self) -> u64 {
        match self {
            Start::Resume(o) | Start::End(o) => o,
            Start::Beginning(_) => 0,
        }
    }
}

/// Where reading `found` starts. A file the source has a checkpoint for is never taken for
/// one "present at the first start": truncated (offset past its end) or rewritten (other
/// first bytes) while the daemon was stopped, it is read from 0, never skipped to its end.
pub fn start_offset(found: Found, start_at: StartAt) -> Start {
    match found.checkpoint {
        Some((offset, true)) if offset <= found.size => Start::Resume(offset),
        Some((_, true)) => Start::Beginning("truncated while not read"),
        Some((_, false)) => {
            Start::Beginning("rewritten while not read, or a new file on a reused inode")
        }
        None if found.first_start && start_at == StartAt::End => Start::End(found.size),
        None => Start::Beginning("a new file"),
    }
}

/// What one poll of an open file observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Its size now.
    pub size: u64,
    /// Its size at the previous poll.
    pub last_size: u64,
    /// Where we have read to.
    pub read_offset: u64,
    /// Its first bytes still hash to its fingerprint.
    pub same_head: bool,
    /// The bytes just before `read_offset` still hash to what we read there.
    pub same_tail: bool,
}

/// What a poll's observation means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing new.
    Same,
    /// More to read at the offset.
    Grew,
    /// What is there now is not what we were reading: read it again from 0.
    Replaced(&'static str),
}

/// Classifies a poll: shrinking below the offset, or at all since the last poll (truncated
/// then regrown), other first bytes, or other bytes just before the offset all mean the file
/// was replaced in place (copytruncate, truncate-and-rewrite).
pub fn classify(o: Observed) -> Change {
    if o.size < o.read_offset {
        Change::Replaced("truncated")
    } else if !o.same_head {
        Change::Replaced("rewritten (its first bytes changed)")
    } else if o.size < o.last_size {
        Change::Replaced("truncated and written again")
    } else if !o.same_tail {
        Change::Replaced("rewritten past the offset (the bytes before it changed)")
    } else if o.size > o.read_offset {
        Change::Grew
    } else {
        Change::Same
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_reading_starts() {
        use Start::*;
        let f = |size, checkpoint, first_start| Found {
            size,
            checkpoint,
            first_start,
        };
        let cases: &[(&str, Found, StartAt, Start)] = &[
            (
                "resume at the checkpoint",
                f(100, Some((40, true)), false),
                StartAt::Beginning,
                Resume(40),
            ),
            (
                "resume, start_at end does not matter",
                f(100, Some((40, true)), true),
                StartAt::End,
                Resume(40),
            ),
            (
                "resume at the very end",
                f(100, Some((100, true)), false),
                StartAt::End,
                Resume(100),
            ),
            // copytruncate while stopped, then some lines: the old offset is past the end.
            (
                "truncated while stopped",
                f(30, Some((40, true)), false),
                StartAt::End,
                Beginning("truncated while not read"),
            ),
            (
                "truncated while stopped, first start",
                f(30, Some((40, true)), true),
                StartAt::End,
                Beginning("truncated while not read"),
            ),
            // truncate and rewrite while stopped: same inode, other first bytes.
            (
                "rewritten while stopped",
                f(500, Some((40, false)), false),
                StartAt::End,
                Beginning("rewritten while not read, or a new file on a reused inode"),
            ),
            (
                "inode reused",
                f(10, Some((40, false)), true),
                StartAt::Beginning,
                Beginning("rewritten while not read, or a new file on a reused inode"),
            ),
            // rename + create while stopped: the new file has no checkpoint, the source has run.
            (
                "created while stopped",
                f(500, None, false),
                StartAt::End,
                Beginning("a new file"),
            ),
            (
                "created while running",
                f(500, None, false),
                StartAt::Beginning,
                Beginning("a new file"),
            ),
            (
                "present at the very first start, start_at end",
                f(500, None, true),
                StartAt::End,
                End(500),
            ),
            (
                "present at the very first start, start_at beginning",
                f(500, None, true),
                StartAt::Beginning,
                Beginning("a new file"),
            ),
        ];
        for (name, found, start_at, want) in cases {
            assert_eq!(start_offset(*found, *start_at), *want, "{name}");
        }
    }

    #[test]
    fn what_a_poll_means() {
        use Change::*;
        let o = |size, last_size, read_offset, same_head, same_tail| Observed {
            size,
            last_size,
            read_offset,
            same_head,
            same_tail,
        };
        let cases: &[(&str, Observed, Change)] = &[
            ("nothing new", o(100, 100, 100, true, true), Same),
            ("appended", o(150, 100, 100, true, true), Grew),
            (
                "more of what we had not read yet",
                o(150, 120, 100, true, true),
                Grew,
            ),
            (
                "copytruncate, not yet rewritten",
                o(0, 100, 100, true, true),
                Replaced("truncated"),
            ),
            (
                "truncated below the offset",
                o(50, 100, 100, true, true),
                Replaced("truncated"),
            ),
            (
                "truncate and rewrite, other head",
                o(300, 100, 100, false, true),
                Replaced("rewritten (its first bytes changed)"),
            ),
            (
                "truncated and regrown, still short of what it was",
                o(110, 200, 100, true, true),
                Replaced("truncated and written again"),
            ),
            (
                "truncated and regrown past the offset, same head",
                o(250, 200, 100, true, false),
                Replaced("rewritten past the offset (the bytes before it changed)"),
            ),
            (
                "shrinking head of a short file",
                o(100, 100, 100, false, true),
                Replaced("rewritten (its first bytes changed)"),
            ),
        ];
        for (name, observed, want) in cases {
            assert_eq!(classify(*observed), *want, "{name}");
        }
    }
}
