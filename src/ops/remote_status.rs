//! `pipe status --remote[=NAME]`: for every cached out in the lock, whether its content is
//! in the local cache, on the remote, both, or neither (a directory counts as present only
//! with its manifest and every file). The remote is asked with one listing per fan-out
//! prefix the objects fall in, never a request per object. `report::status` renders it.

use std::collections::HashSet;

use pipe_cache::remote::{Kind, RemoteError};
use pipe_cache::{Digest, Manifest};

use crate::error::Result;
use crate::report::status::{OutState, RemoteStatus, Where};
use crate::sharing;

use super::Session;

pub fn status(s: &Session, targets: &[String], remote: Option<&str>) -> Result<RemoteStatus> {
    let outs = s.cached_locked_outs(targets)?;
    let remote = sharing::open(&s.ws, remote, None)?;
    let store = &s.ws.store;
    let rt = Session::runtime()?;
    let states: Vec<OutState> = rt
        .block_on(async {
            // Each out's objects: its own, and a directory's files (manifest from the local
            // cache, else from the remote).
            let mut needs: Vec<Option<Vec<Digest>>> = Vec::with_capacity(outs.len());
            for o in &outs {
                let mut v = vec![o.hash.digest];
                if o.hash.is_dir() {
                    let m: Option<Manifest> = match store.read_manifest(&o.hash.digest) {
                        Ok(m) => Some(m),
                        // A manifest pull would refuse (not a file, corrupt, invalid)
                        // says nothing either.
                        Err(_) => match remote.read_object(&o.hash.digest).await {
                            Ok(b) => b.and_then(|b| Manifest::decode(&b).ok()),
                            Err(RemoteError::Refused { .. } | RemoteError::Corrupt { .. }) => None,
                            Err(e) => return Err(e),
                        },
                    };
                    match m {
                        Some(m) => v.extend(m.entries().iter().map(|e| e.digest)),
                        // Neither side can say what the directory holds.
                        None => {
                            needs.push(None);
                            continue;
                        }
                    }
                }
                needs.push(Some(v));
            }
            let all: Vec<Digest> = needs
                .iter()
                .flatten()
                .flatten()
                .copied()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let on_remote = remote.existing(Kind::Object, &all).await?;
            Ok(outs
                .iter()
                .zip(&needs)
                .map(|(o, need)| {
                    let (local, remote) = match need {
                        Some(need) => (
                            need.iter().all(|d| store.has(d)),
                            need.iter().all(|d| on_remote.contains(d)),
                        ),
                        None => (false, false),
                    };
                    OutState {
                        stage: o.stage.clone(),
                        path: o.path.clone(),
                        place: match (local, remote) {
                            (true, true) => Where::Both,
                            (true, false) => Where::LocalOnly,
                            (false, true) => Where::RemoteOnly,
                            (false, false) => Where::Missing,
                        },
                    }
                })
                .collect())
        })
        .map_err(sharing::error)?;
    Ok(RemoteStatus {
        remote: remote.name().to_string(),
        outs: states,
    })
}
