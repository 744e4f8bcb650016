//! `.pipe/config.toml` (committed) and `.pipe/config.local.toml` (git-ignored, for
//! secrets and machine-specific paths), the latter overriding the former key by key.
//!
//! ```toml
//! [core]
//! remote = "team"          # the default remote
//! jobs = 8                 # default for --jobs
//!
//! [cache]
//! dir = "/shared/pipe-cache"               # default .pipe/cache
//! link = ["reflink", "copy"]   # checkout: first that works (hardlink, symlink: see README)
//! shared = "group"                          # group-writable, for a cache several users share
//!
//! [remote.team]
//! url = "s3://bucket/prefix"   # or a directory: "/mnt/nfs/pipe-remote"
//! endpoint = "http://127.0.0.1:9000"
//! region = "us-east-1"
//! profile = "team"             # AWS profile for credentials (else the AWS environment)
//! jobs = 32                    # transfers in flight
//! shared = "group"             # a directory remote several users write
//! ```
//!
//! ```toml
//! [executor]               # where stages run (`pipe repro --executor` overrides `kind`)
//! kind = "slurm"           # "local" (default) or "slurm"
//! partition = "gpu"        # sbatch -p (a stage's resources.partition wins)
//! account = "proj42"       # sbatch -A
//! qos = "normal"           # sbatch --qos
//! time = "4h"              # default wall time (a stage's resources.time wins)
//! extra = ["--constraint=a100"]   # more sbatch arguments, as they are
//! max_jobs = 200           # jobs queued or running at once
//! poll = 5                 # seconds between squeue calls, at most
//! ```
//!
//! Credentials (`access_key_id`, `secret_access_key`) belong in `config.local.toml` only;
//! `pipe remote add` refuses to write them anywhere else.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use pipe_cache::LinkKind;
use serde::Deserialize;
use toml::Spanned;

use crate::spec::{SourceFile, SpecError};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToml {
    #[serde(default)]
    core: CoreToml,
    #[serde(default)]
    cache: CacheToml,
    #[serde(default)]
    remote: IndexMap<String, RemoteToml>,
    executor: Option<ExecutorToml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecutorToml {
    kind: Option<Spanned<String>>,
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    time: Option<Spanned<String>>,
    extra: Option<Vec<String>>,
    max_jobs: Option<Spanned<usize>>,
    poll: Option<Spanned<f64>>,
}

/// Which executor runs stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExecutorKind {
    #[default]
    Local,
    Slurm,
}

/// `[executor]`: the executor and the Slurm settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    pub kind: ExecutorKind,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Default wall time, seconds.
    pub time: Option<u64>,
    pub extra: Vec<String>,
    pub max_jobs: usize,
    /// Longest pause between two squeue calls, seconds.
    pub poll: f64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            kind: ExecutorKind::Local,
            partition: None,
            account: None,
            qos: None,
            time: None,
            extra: Vec::new(),
            max_jobs: 200,
            poll: 5.0,
        }
    }
}

impl ExecutorConfig {
    fn overlay(&mut self, file: &SourceFile, t: ExecutorToml) -> Result<(), SpecError> {
        if let Some(k) = t.kind {
            self.kind = match k.get_ref().as_str() {
                "local" => ExecutorKind::Local,
                "slurm" => ExecutorKind::Slurm,
                other => {
                    return Err(file.error(
                        k.span(),
                        format!("`executor.kind` is `local` or `slurm`, not `{other}`"),
                    ));
                }
            };
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if t.$f.is_some() { self.$f = t.$f; } )* };
        }
        take!(partition, account, qos);
        if let Some(time) = t.time {
            self.time = Some(
                crate::spec::duration::parse(time.get_ref())
                    .map_err(|m| file.error(time.span(), format!("`executor.time`: {m}")))?,
            );
        }
        if let Some(e) = t.extra {
            self.extra = e;
        }
        if let Some(m) = t.max_jobs {
            if *m.get_ref() == 0 {
                return Err(file.error(m.span(), "`executor.max_jobs` must be at least 1"));
            }
            self.max_jobs = m.into_inner();
        }
        if let Some(p) = t.poll {
            let v = *p.get_ref();
            if !(v.is_finite() && v > 0.0) {
                return Err(file.error(
                    p.span(),
                    "`executor.poll` must be a positive number of seconds",
                ));
            }
            self.poll = v;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoreToml {
    remote: Option<String>,
    jobs: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheToml {
    dir: Option<String>,
    link: Option<Spanned<Vec<Spanned<String>>>>,
    shared: Option<Spanned<String>>,
}

/// A remote as configured. Which keys apply depends on the URL's scheme. `Debug` never
/// shows the credentials.
#[derive(Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteToml {
    pub url: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub allow_http: Option<bool>,
    pub jobs: Option<usize>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Directory remotes: `group` for setgid, group-writable directories.
    pub shared: Option<String>,
}

impl std::fmt::Debug for RemoteToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "(hidden)");
        f.debug_struct("RemoteToml")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("allow_http", &self.allow_http)
            .field("jobs", &self.jobs)
            .field("access_key_id", &hidden(&self.access_key_id))
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("shared", &self.shared)
            .finish()
    }
}

impl RemoteToml {
    fn overlay(&mut self, o: RemoteToml) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f; } )* };
        }
        take!(
            url,
            endpoint,
            region,
            profile,
            allow_http,
            jobs,
            access_key_id,
            secret_access_key,
            shared
        );
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub default_remote: Option<String>,
    pub jobs: Option<usize>,
    pub cache_dir: Option<PathBuf>,
    /// The config file that set `cache_dir` (named when the folder is refused).
    pub cache_dir_from: Option<PathBuf>,
    pub links: Vec<LinkKind>,
    pub shared_group: bool,
    pub remotes: IndexMap<String, RemoteToml>,
    pub executor: ExecutorConfig,
}

pub const FILE: &str = "config.toml";
pub const LOCAL_FILE: &str = "config.local.toml";

impl Config {
    /// Reads `<dot>/config.toml` and `<dot>/config.local.toml` (both optional).
    pub fn load(dot: &Path) -> Result<Config, SpecError> {
        let mut cfg = Config {
            default_remote: None,
            jobs: None,
            cache_dir: None,
            cache_dir_from: None,
            links: LinkKind::DEFAULT_ORDER.to_vec(),
            shared_group: false,
            remotes: IndexMap::new(),
            executor: ExecutorConfig::default(),
        };
        for name in [FILE, LOCAL_FILE] {
            let path = dot.join(name);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(SpecError::new(format!(
                        "cannot read {}: {e}",
                        path.display()
                    )));
                }
            };
            let file = SourceFile::new(&path, text);
            let t: ConfigToml =
                toml::from_str(&file.text).map_err(|e| crate::spec::diag::from_toml(&file, &e))?;
            if t.core.remote.is_some() {
                cfg.default_remote = t.core.remote;
            }
            if t.core.jobs.is_some() {
                cfg.jobs = t.core.jobs;
            }
            if let Some(d) = t.cache.dir {
                let p = PathBuf::from(&d);
                // Relative cache dirs are relative to the workspace root (beside .pipe).
                cfg.cache_dir = Some(if p.is_absolute() {
                    p
                } else {
                    dot.parent().unwrap_or(dot).join(p)
                });
                cfg.cache_dir_from = Some(path.clone());
            }
            if let Some(links) = t.cache.link {
                let mut v = Vec::new();
                for l in links.get_ref() {
                    v.push(
                        l.get_ref()
                            .parse::<LinkKind>()
                            .map_err(|m| file.error(l.span(), m))?,
                    );
                }
                if v.is_empty() {
                    return Err(
                        file.error(links.span(), "`cache.link` needs at least one link kind")
                    );
                }
                cfg.links = v;
            }
            if let Some(s) = t.cache.shared {
                cfg.shared_group = match s.get_ref().as_str() {
                    "group" => true,
                    "none" | "" => false,
                    other => {
                        return Err(file.error(
                            s.span(),
                            format!("`cache.shared` is `group` or `none`, not `{other}`"),
                        ));
                    }
                };
            }
            for (name, r) in t.remote {
                cfg.remotes.entry(name).or_default().overlay(r);
            }
            if let Some(x) = t.executor {
                cfg.executor.overlay(&file, x)?;
            }
        }
        if let Some(d) = &cfg.default_remote
            && !cfg.remotes.contains_key(d)
        {
            return Err(SpecError::new(format!(
                "{}: the default remote `{d}` is not configured",
                dot.join(FILE).display()
            )));
        }
        Ok(cfg)
    }
}
