//! Where things live on a remote: the local cache's layout, relative to the remote's root
//! (a directory, or a bucket and prefix).
//!
//! ```text
//! objects/ab/cdef…   an object: a file's bytes or a directory manifest, named by its blake3
//! runs/ab/cdef…      a run-cache record, named by its key
//! exps/ab/cdef…      an experiment record, named by the blake3 of the experiment's name
//! tmp/               (directory remotes only) uploads being written, renamed when whole
//! ```
//!
//! The two-hex-digit fan-out keeps directories small on a shared filesystem and gives a
//! listing 256 independent prefixes, so "which of these does the remote have" lists only
//! the prefixes it needs, in parallel.

use crate::Digest;

/// The two kinds of things a remote holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Content-addressed objects: verifiable against their name.
    Object,
    /// Run-cache records: small JSON, named by a key, not by their content.
    Record,
    /// Experiment records: small JSON, named by the digest of the experiment's name, so
    /// a push of a rerun replaces the old one.
    Exp,
}

impl Kind {
    /// What one of them is called in a message.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Record => "run-cache record",
            Kind::Exp => "experiment record",
        }
    }

    pub fn dir(self) -> &'static str {
        match self {
            Kind::Object => "objects",
            Kind::Record => "runs",
            Kind::Exp => "exps",
        }
    }
}

/// `objects/ab/cdef…` or `runs/ab/cdef…`.
pub fn key(kind: Kind, d: &Digest) -> String {
    let hex = d.to_hex();
    format!("{}/{}/{}", kind.dir(), &hex[..2], &hex[2..])
}

/// `objects/ab`: the listing prefix that holds `d`.
pub fn fan_out(kind: Kind, d: &Digest) -> String {
    format!("{}/{}", kind.dir(), &d.to_hex()[..2])
}

/// The digest named by a key relative to the remote's root, or `None` for anything else
/// (a temp file, a stray name): `objects/ab/cdef…` -> `abcdef…`.
pub fn parse(kind: Kind, rel: &str) -> Option<Digest> {
    let rest = rel.strip_prefix(kind.dir())?.strip_prefix('/')?;
    let (pre, name) = rest.split_once('/')?;
    if pre.len() != 2 || name.contains('/') {
        return None;
    }
    format!("{pre}{name}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_mirror_the_cache_and_are_pinned() {
        let d = Digest::of_bytes(b"");
        assert_eq!(
            key(Kind::Object, &d),
            "objects/af/1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            key(Kind::Record, &d),
            "runs/af/1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(fan_out(Kind::Object, &d), "objects/af");
    }

    #[test]
    fn parse_round_trips_and_rejects_strays() {
        let d = Digest::of_bytes(b"x");
        for kind in [Kind::Object, Kind::Record] {
            assert_eq!(parse(kind, &key(kind, &d)), Some(d));
        }
        assert_eq!(parse(Kind::Record, &key(Kind::Object, &d)), None);
        assert_eq!(parse(Kind::Object, "objects/ab"), None);
        assert_eq!(parse(Kind::Object, "objects/abc/def"), None);
        assert_eq!(parse(Kind::Object, "objects/ab/cd/ef"), None);
        assert_eq!(parse(Kind::Object, "objects/ab/.pipe-tmp-1-2-x"), None);
        assert_eq!(parse(Kind::Object, "tmp/ab/cd"), None);
    }
}
