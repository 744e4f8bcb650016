//! Where an S3 remote's credentials come from, in the standard AWS order:
//!
//! 1. `access_key_id`/`secret_access_key` in `.pipe/config.local.toml` (git-ignored);
//! 2. the remote's `profile`, from the shared files (`~/.aws/credentials`, `~/.aws/config`,
//!    or `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`);
//! 3. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`);
//! 4. `AWS_PROFILE` (else `default`) from the shared files;
//! 5. otherwise the object store's own chain (web identity, ECS, instance metadata), which
//!    only makes sense on AWS itself.
//!
//! Values are never logged; only which source was used.

use std::path::PathBuf;

use super::spec::Credentials;

/// What the chain found: credentials (if any), a region from the profile, and where from.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub credentials: Option<Credentials>,
    pub region: Option<String>,
    pub source: &'static str,
}

/// Resolves credentials; `env` reads an environment variable, `read` a file.
pub fn resolve(
    local: Option<&Credentials>,
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&PathBuf) -> Option<String>,
) -> Found {
    let from_profile = |name: &str| -> (Option<Credentials>, Option<String>) {
        let home = env("HOME").map(PathBuf::from);
        let creds_file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws/credentials")));
        let config_file = env("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws/config")));
        let creds_text = creds_file.and_then(|p| read(&p)).unwrap_or_default();
        let config_text = config_file.and_then(|p| read(&p)).unwrap_or_default();
        let config_section = if name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        let get = |key: &str| {
            ini_get(&creds_text, name, key).or_else(|| ini_get(&config_text, &config_section, key))
        };
        let creds = match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => Some(Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: get("aws_session_token"),
            }),
            _ => None,
        };
        (creds, ini_get(&config_text, &config_section, "region"))
    };
    if let Some(c) = local {
        return Found {
            credentials: Some(c.clone()),
            region: None,
            source: "config.local.toml",
        };
    }
    if let Some(p) = profile {
        let (credentials, region) = from_profile(p);
        if credentials.is_some() {
            return Found {
                credentials,
                region,
                source: "the remote's profile",
            };
        }
    }
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Found {
            credentials: Some(Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: env("AWS_SESSION_TOKEN"),
            }),
            region: None,
            source: "the AWS_* environment",
        };
    }
    let name = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    let (credentials, region) = from_profile(&name);
    if credentials.is_some() {
        return Found {
            credentials,
            region,
            source: "the AWS profile",
        };
    }
    Found {
        credentials: None,
        region,
        source: "the object store's default chain",
    }
}

/// `key` in `[section]` of an INI text (AWS's shared-file dialect: `key = value`, `#`/`;`
/// comments).
fn ini_get(text: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const CREDS: &str = "[default]\naws_access_key_id = DEFID\naws_secret_access_key = defsecret\n\n# team\n[team]\naws_access_key_id=TEAMID\naws_secret_access_key=teamsecret\naws_session_token = tok\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\n[profile team]\nregion = us-west-2\n";

    fn run(local: Option<&Credentials>, profile: Option<&str>, vars: &[(&str, &str)]) -> Found {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(
            local,
            profile,
            &|k| vars.get(k).cloned(),
            &|p| match p.to_str() {
                Some("/home/u/.aws/credentials") => Some(CREDS.into()),
                Some("/home/u/.aws/config") => Some(CONFIG.into()),
                _ => None,
            },
        )
    }

    fn id(f: &Found) -> Option<&str> {
        f.credentials.as_ref().map(|c| c.access_key_id.as_str())
    }

    #[test]
    fn precedence_follows_aws() {
        let home = ("HOME", "/home/u");
        let envk = [
            home,
            ("AWS_ACCESS_KEY_ID", "ENVID"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
        ];
        let local = Credentials {
            access_key_id: "LOCALID".into(),
            secret_access_key: "s".into(),
            session_token: None,
        };
        assert_eq!(id(&run(Some(&local), Some("team"), &envk)), Some("LOCALID"));
        let f = run(None, Some("team"), &envk);
        assert_eq!(id(&f), Some("TEAMID"));
        assert_eq!(f.region.as_deref(), Some("us-west-2"));
        assert_eq!(f.credentials.unwrap().session_token.as_deref(), Some("tok"));
        assert_eq!(id(&run(None, None, &envk)), Some("ENVID"));
        assert_eq!(
            id(&run(None, None, &[home, ("AWS_PROFILE", "team")])),
            Some("TEAMID")
        );
        let f = run(None, None, &[home]);
        assert_eq!(id(&f), Some("DEFID"));
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        let none = run(None, Some("nosuch"), &[("HOME", "/elsewhere")]);
        assert_eq!(none.credentials, None);
    }
}
