//! `pipe remote add/list/remove/default`: the `[remote.NAME]` tables and `[core] remote`
//! of `.pipe/config.toml` (committed) or, with `--local`, `.pipe/config.local.toml`
//! (git-ignored: the only place credentials may be written). Edits go through `toml_edit`,
//! so comments and layout survive; the result is loaded back before it is kept, so a bad
//! edit never leaves a broken config behind.
//!
//! ```toml
//! [core]
//! remote = "team"
//!
//! [remote.team]
//! url = "s3://ml-cache/project"       # or a directory: "/mnt/nfs/pipe-cache"
//! endpoint = "http://127.0.0.1:9000"  # S3-compatible servers (MinIO, RustFS)
//! region = "us-east-1"
//! profile = "team"                    # an AWS profile to take credentials from
//! allow_http = false                  # plain http (always allowed on loopback)
//! jobs = 32                           # transfers in flight
//! shared = "group"                    # directory remotes: group-writable
//! ```

use std::path::Path;

use toml_edit::{DocumentMut, Item, Table, value};

use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::report::printer::{Printer, Tone};
use crate::workspace::Workspace;

use super::error::OpsError;

#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    pub default: bool,
    pub local: bool,
    pub force: bool,
    /// `key=value` settings (`-o endpoint=http://…`).
    pub options: Vec<String>,
}

/// Settings a remote accepts, and whether they are secrets (local config only).
const KEYS: [(&str, bool); 8] = [
    ("endpoint", false),
    ("region", false),
    ("profile", false),
    ("allow_http", false),
    ("jobs", false),
    ("shared", false),
    ("access_key_id", true),
    ("secret_access_key", true),
];

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn file_name(local: bool) -> &'static str {
    if local {
        config::LOCAL_FILE
    } else {
        config::FILE
    }
}

fn read_doc(path: &Path) -> Result<(String, DocumentMut)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => {
            return Err(OpsError::Read {
                path: path.to_path_buf(),
                err,
            }
            .into());
        }
    };
    let doc = text
        .parse::<DocumentMut>()
        .map_err(|err| OpsError::ConfigToml {
            path: path.to_path_buf(),
            err,
        })?;
    Ok((text, doc))
}

/// Writes `doc` to `path`, then loads the whole config back; on failure the old text is
/// put back and the error returned.
fn write_checked(dot: &Path, path: &Path, old: &str, doc: &DocumentMut) -> Result<()> {
    let write = |text: &str| {
        pipe_cache::fsutil::write_atomic(path, text.as_bytes(), true).map_err(Error::Cache)
    };
    write(&doc.to_string())?;
    if let Err(e) = Config::load(dot) {
        if old.is_empty() {
            let _ = std::fs::remove_file(path);
        } else {
            write(old)?;
        }
        return Err(e.into());
    }
    Ok(())
}

fn remotes_table<'a>(doc: &'a mut DocumentMut, path: &Path) -> Result<&'a mut Table> {
    let item = doc.entry("remote").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    item.as_table_mut().ok_or_else(|| {
        OpsError::NotATable {
            path: path.to_path_buf(),
            key: "remote",
        }
        .into()
    })
}

fn parse_option(o: &str, local: bool) -> Result<(&'static str, toml_edit::Item)> {
    let (k, v) = o.split_once('=').ok_or_else(|| OpsError::OptionSyntax {
        option: o.to_string(),
    })?;
    let k = k.trim();
    let v = v.trim();
    let Some(&(key, secret)) = KEYS.iter().find(|(name, _)| *name == k) else {
        return Err(OpsError::UnknownSetting {
            key: k.to_string(),
            known: KEYS.iter().map(|(n, _)| *n).collect(),
        }
        .into());
    };
    if secret && !local {
        return Err(OpsError::SecretNotLocal {
            key: k.to_string(),
            local_file: config::LOCAL_FILE,
        }
        .into());
    }
    let bad = |expected| OpsError::BadSetting {
        key,
        expected,
        value: v.to_string(),
    };
    let item = match key {
        "allow_http" => value(v.parse::<bool>().map_err(|_| bad("true or false"))?),
        "jobs" => {
            let n = v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad("a number from 1"))?;
            value(n)
        }
        "shared" if v != "group" && v != "none" => {
            return Err(bad("`group` or `none`").into());
        }
        _ => value(v),
    };
    Ok((key, item))
}

/// `pipe remote add NAME URL [--default] [--local] [--force] [-o key=value]…`
pub fn add(p: &Printer, ws: &Workspace, name: &str, url: &str, o: &AddOptions) -> Result<()> {
    if !valid_name(name) {
        return Err(OpsError::RemoteName {
            name: name.to_string(),
        }
        .into());
    }
    pipe_cache::remote::spec::parse_url(url, &ws.root).map_err(|why| OpsError::RemoteUrl {
        name: name.to_string(),
        why,
    })?;
    let mut settings = Vec::new();
    for opt in &o.options {
        settings.push(parse_option(opt, o.local)?);
    }
    let path = ws.dot.join(file_name(o.local));
    let (old, mut doc) = read_doc(&path)?;
    let remotes = remotes_table(&mut doc, &path)?;
    if remotes.contains_key(name) && !o.force {
        return Err(OpsError::RemoteExists {
            name: name.to_string(),
            file: file_name(o.local),
        }
        .into());
    }
    let mut t = Table::new();
    t.insert("url", value(url));
    for (k, v) in settings {
        t.insert(k, v);
    }
    remotes.insert(name, Item::Table(t));
    if o.default {
        set_core_remote(&mut doc, &path, name)?;
    }
    write_checked(&ws.dot, &path, &old, &doc)?;
    p.verb(
        "Added",
        Tone::Good,
        &format!(
            "remote `{name}` ({url}) to .pipe/{}{}",
            file_name(o.local),
            if o.default { ", the default" } else { "" }
        ),
    );
    Ok(())
}

/// `[core] remote = NAME` in `doc` (the config file at `path`), `[core]` made when absent.
fn set_core_remote(doc: &mut DocumentMut, path: &Path, name: &str) -> Result<()> {
    doc.entry("core")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| OpsError::NotATable {
            path: path.to_path_buf(),
            key: "core",
        })?
        .insert("remote", value(name));
    Ok(())
}

/// `pipe remote remove NAME`: from both config files; a default naming it is unset.
pub fn remove(p: &Printer, ws: &Workspace, name: &str) -> Result<()> {
    let mut found = false;
    let mut unset_default = false;
    for local in [false, true] {
        let path = ws.dot.join(file_name(local));
        if !path.exists() {
            continue;
        }
        let (_, mut doc) = read_doc(&path)?;
        let mut changed = false;
        if let Some(t) = doc.get_mut("remote").and_then(Item::as_table_like_mut)
            && t.remove(name).is_some()
        {
            changed = true;
            found = true;
        }
        if let Some(core) = doc.get_mut("core").and_then(Item::as_table_like_mut)
            && core.get("remote").and_then(Item::as_str) == Some(name)
        {
            core.remove("remote");
            changed = true;
            unset_default = true;
        }
        if changed {
            pipe_cache::fsutil::write_atomic(&path, doc.to_string().as_bytes(), true)?;
        }
    }
    if !found {
        return Err(OpsError::NoRemote {
            name: name.to_string(),
        }
        .into());
    }
    Config::load(&ws.dot)?;
    p.verb("Removed", Tone::Good, &format!("remote `{name}`"));
    if unset_default {
        p.warn(&format!(
            "`{name}` was the default remote; there is none now (`pipe remote default NAME`)"
        ));
    }
    Ok(())
}

/// `pipe remote default NAME [--local]`.
pub fn set_default(p: &Printer, ws: &Workspace, name: &str, local: bool) -> Result<()> {
    if !ws.config.remotes.contains_key(name) {
        return Err(OpsError::NoRemote {
            name: name.to_string(),
        }
        .into());
    }
    let path = ws.dot.join(file_name(local));
    let (old, mut doc) = read_doc(&path)?;
    set_core_remote(&mut doc, &path, name)?;
    write_checked(&ws.dot, &path, &old, &doc)?;
    p.verb(
        "Default",
        Tone::Good,
        &format!("remote is `{name}` (.pipe/{})", file_name(local)),
    );
    Ok(())
}
