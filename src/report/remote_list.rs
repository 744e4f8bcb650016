//! `pipe remote list`: the remotes of the config (`.pipe/config.toml` and
//! `config.local.toml` together), never a secret's value.

use crate::config::{self, Config};

/// `pipe remote list`: every remote, its url and settings (never a secret's value).
pub fn list(cfg: &Config) -> String {
    if cfg.remotes.is_empty() {
        return "No remotes (add one with `pipe remote add NAME URL --default`).".into();
    }
    let width = cfg.remotes.keys().map(|n| n.len()).max().unwrap_or(0) + 10;
    let mut out = String::new();
    for (name, r) in &cfg.remotes {
        let label = if cfg.default_remote.as_deref() == Some(name) {
            format!("{name} (default)")
        } else {
            name.clone()
        };
        // Padded by hand: a format width is capped at 65,535.
        let pad = " ".repeat(width.saturating_sub(label.chars().count()));
        let mut line = format!("{label}{pad} {}", r.url.as_deref().unwrap_or("(no url)"));
        let mut add = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                line.push_str(&format!("  {k}={v}"));
            }
        };
        add("endpoint", r.endpoint.clone());
        add("region", r.region.clone());
        add("profile", r.profile.clone());
        add("allow_http", r.allow_http.map(|b| b.to_string()));
        add("jobs", r.jobs.map(|n| n.to_string()));
        add("shared", r.shared.clone());
        if r.access_key_id.is_some() || r.secret_access_key.is_some() {
            add("credentials", Some(config::LOCAL_FILE.to_string()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
