//! `.dvc/config` remotes -> pipe remotes. Credentials are never copied.
//!
//! ```ini
//! [core]
//!     remote = storage
//! ['remote "storage"']
//!     url = s3://bucket/path
//!     endpointurl = http://localhost:9000
//! ```
//! `url`, `endpointurl` (-> `endpoint`), `region` and `profile` are carried; keys holding
//! secrets (`access_key_id`, `password`, ...) are listed as notes, other keys too.
//! `.dvc/config.local` (git-ignored: where `dvc remote modify --local` keeps secrets) is
//! not read for a conversion; only `pipe import`/`get` from a DVC project on this machine
//! reads it ([`local_default`], [`overlay_local`]), to fetch with its credentials, and
//! nothing of it is written anywhere.

use std::path::Path;

use super::{Note, Notes};
use crate::spec::SpecError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub name: String,
    pub url: String,
    /// pipe settings: `endpoint=...`, `region=...`, `profile=...`.
    pub options: Vec<String>,
}

/// The remotes and the default remote of `.dvc/config`, if there is one.
pub fn read(root: &Path, notes: &mut Notes) -> Result<(Vec<Remote>, Option<String>), SpecError> {
    let path = root.join(".dvc/config");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => {
            return Err(SpecError::new(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    Ok(parse(&text, notes))
}

pub fn parse(text: &str, notes: &mut Notes) -> (Vec<Remote>, Option<String>) {
    let mut remotes: Vec<Remote> = Vec::new();
    let mut default = None;
    let mut section = String::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!(".dvc/config:{}", i + 1);
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim_matches('\'').trim().to_string();
            if let Some(name) = remote_name(&section) {
                remotes.push(Remote {
                    name: name.to_string(),
                    url: String::new(),
                    options: Vec::new(),
                });
            }
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim().to_string());
        if section == "core" && k == "remote" {
            default = Some(v);
            continue;
        }
        if remote_name(&section).is_none() {
            let what = match (section.as_str(), k) {
                ("cache", "type") => format!(
                    "cache `type = {v}` is not carried: pipe checks outs out by its own `[cache] link` in .pipe/config.toml (default reflink, then copy; hardlink and symlink can be named there)"
                ),
                ("cache", "dir") => format!(
                    "cache `dir = {v}` is not carried: pipe keeps its own cache (`[cache] dir` in .pipe/config.toml)"
                ),
                _ => format!("setting `{section}.{k}` is not carried"),
            };
            notes.push(Note { at, what });
            continue;
        }
        let Some(r) = remote_name(&section).and_then(|n| remotes.iter_mut().find(|r| r.name == n))
        else {
            continue;
        };
        match k {
            "url" => r.url = v,
            "endpointurl" => r.options.push(format!("endpoint={v}")),
            "region" => r.options.push(format!("region={v}")),
            "profile" => r.options.push(format!("profile={v}")),
            "access_key_id" | "secret_access_key" | "session_token" | "password" | "ask_password"
            | "credentialpath" | "keyfile" | "gdrive_client_secret" | "account_key"
            | "sas_token" | "connection_string" | "key_file" => notes.push(Note {
                at,
                what: format!("remote `{}`: `{k}` is a credential, not copied (give it to pipe with `pipe remote add --local -o`, or the environment)", r.name),
            }),
            other => notes.push(Note {
                at,
                what: format!("remote `{}`: setting `{other}` is not carried", r.name),
            }),
        }
    }
    remotes.retain(|r| !r.url.is_empty());
    (remotes, default)
}

/// Each `key = value` of `text` (DVC's INI dialect) with its section, comments skipped.
fn entries(text: &str) -> impl Iterator<Item = (String, &str, &str)> {
    let mut section = String::new();
    text.lines().filter_map(move |line| {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            return None;
        }
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim_matches('\'').trim().to_string();
            return None;
        }
        let (k, v) = l.split_once('=')?;
        Some((section.clone(), k.trim(), v.trim()))
    })
}

/// The default remote `.dvc/config.local`'s text names (`core.remote`), if it does.
pub fn local_default(text: &str) -> Option<String> {
    entries(text)
        .filter(|(s, k, _)| s == "core" && *k == "remote")
        .map(|(_, _, v)| v.to_string())
        .last()
}

/// Lays what `.dvc/config.local`'s text sets for remote `name` over `t`: its url,
/// endpoint, region, profile and static credentials.
pub fn overlay_local(text: &str, name: &str, t: &mut crate::config::RemoteToml) {
    for (section, k, v) in entries(text) {
        if remote_name(&section) != Some(name) {
            continue;
        }
        let v = Some(v.to_string());
        match k {
            "url" => t.url = v,
            "endpointurl" => t.endpoint = v,
            "region" => t.region = v,
            "profile" => t.profile = v,
            "access_key_id" => t.access_key_id = v,
            "secret_access_key" => t.secret_access_key = v,
            _ => {}
        }
    }
}

fn remote_name(section: &str) -> Option<&str> {
    section
        .strip_prefix("remote")?
        .trim()
        .strip_prefix('"')?
        .strip_suffix('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_without_credentials() {
        let mut notes = Vec::new();
        let (r, d) = parse(
            "[core]\n    remote = store\n['remote \"store\"']\n    url = s3://b/p\n    endpointurl = http://127.0.0.1:9000\n    secret_access_key = hunter2\n[remote \"dir\"]\n    url = /mnt/share\n",
            &mut notes,
        );
        assert_eq!(d.as_deref(), Some("store"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].url, "s3://b/p");
        assert_eq!(r[0].options, vec!["endpoint=http://127.0.0.1:9000"]);
        assert_eq!(r[1].name, "dir");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].what.contains("credential"));
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn the_local_config_lays_credentials_and_endpoint_over_its_remote() {
        let text = "[core]\n    remote = other\n['remote \"store\"']\n    access_key_id = AKID\n    secret_access_key = hunter2\n    endpointurl = http://127.0.0.1:9\n['remote \"other\"']\n    access_key_id = NOT\n";
        assert_eq!(local_default(text).as_deref(), Some("other"));
        let mut t = crate::config::RemoteToml {
            url: Some("s3://b/p".into()),
            ..Default::default()
        };
        overlay_local(text, "store", &mut t);
        assert_eq!(t.access_key_id.as_deref(), Some("AKID"));
        assert_eq!(t.secret_access_key.as_deref(), Some("hunter2"));
        assert_eq!(t.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(t.url.as_deref(), Some("s3://b/p"));
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(local_default("[core]\nautostage = true\n"), None);
    }
}
