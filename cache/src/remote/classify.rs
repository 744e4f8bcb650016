//! Object-store errors into one clear sentence each.
//!
//! What the store said is read from the error and its sources: the HTTP client's error
//! kind (a refused connection is "cannot be reached", a timeout or reset is worth a retry),
//! the status `object_store` mapped (404, 401/403), and the S3-style XML body's `<Code>`
//! (`NoSuchBucket`, `InvalidAccessKeyId`, `SlowDown`, …). Nothing here prints.

use super::error::RemoteError;
use super::spec::Scheme;
use crate::Digest;

/// Who is talking to whom, for the messages.
pub struct Context<'a> {
    pub remote: &'a str,
    /// The endpoint or url.
    pub at: &'a str,
    pub scheme: Scheme,
    pub bucket: &'a str,
}

/// One clear error for whatever the store said.
pub fn classify(cx: &Context<'_>, e: object_store::Error, digest: Option<Digest>) -> RemoteError {
    let text = chain_text(&e);
    let (code, message) = s3_code(&text);
    let detail = match (&code, &message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        _ => innermost(&e),
    };
    let remote = cx.remote.to_string();
    let no_bucket = || RemoteError::NoBucket {
        remote: cx.remote.to_string(),
        what: match cx.scheme {
            Scheme::Azure => "container",
            _ => "bucket",
        },
        name: cx.bucket.to_string(),
    };
    if code.as_deref() == Some("NoSuchBucket") || code.as_deref() == Some("ContainerNotFound") {
        return no_bucket();
    }
    match &e {
        object_store::Error::NotFound { .. } => match digest {
            Some(digest) => RemoteError::Missing { remote, digest },
            None => RemoteError::Failed {
                remote,
                detail: format!("not found: {detail}"),
                transient: false,
                attempts: 1,
            },
        },
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => RemoteError::Auth { remote, detail },
        _ => {
            if let Some(kind) = http_kind(&e) {
                use object_store::client::HttpErrorKind as K;
                return match kind {
                    K::Connect => RemoteError::Unreachable {
                        remote,
                        at: cx.at.to_string(),
                        detail: innermost(&e),
                        attempts: 1,
                    },
                    K::Request | K::Timeout | K::Interrupted => RemoteError::Failed {
                        remote,
                        detail: format!("the connection failed: {}", innermost(&e)),
                        transient: true,
                        attempts: 1,
                    },
                    _ => RemoteError::Failed {
                        remote,
                        detail: innermost(&e),
                        transient: false,
                        attempts: 1,
                    },
                };
            }
            let auth_codes = [
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "AccessDenied",
                "ExpiredToken",
                "InvalidToken",
            ];
            if code.as_deref().is_some_and(|c| auth_codes.contains(&c)) {
                return RemoteError::Auth { remote, detail };
            }
            let transient = text.contains("status code: 5")
                || text.contains("status code: 429")
                || code
                    .as_deref()
                    .is_some_and(|c| matches!(c, "SlowDown" | "InternalError"));
            RemoteError::Failed {
                remote,
                detail: first_line(&text),
                transient,
                attempts: 1,
            }
        }
    }
}

/// The error and its sources, joined.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(" | ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The deepest cause: "Connection refused (os error 111)" rather than a wrapper's summary.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(c) = last.source() {
        last = c;
    }
    first_line(&last.to_string())
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or_default();
    if l.chars().count() > 300 {
        format!("{}…", l.chars().take(300).collect::<String>())
    } else {
        l.to_string()
    }
}

/// The kind of the HTTP client error in the chain, if there is one.
fn http_kind(e: &(dyn std::error::Error + 'static)) -> Option<object_store::client::HttpErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(h) = c.downcast_ref::<object_store::client::HttpError>() {
            return Some(h.kind());
        }
        cur = c.source();
    }
    None
}

/// `<Code>…</Code>` and `<Message>…</Message>` of an S3-style XML error body.
fn s3_code(text: &str) -> (Option<String>, Option<String>) {
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let close = format!("</{t}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(text[start..end].trim().to_string())
    };
    (tag("Code"), tag("Message"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_bodies_are_read() {
        let body = "Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>";
        let (c, m) = s3_code(body);
        assert_eq!(c.as_deref(), Some("InvalidAccessKeyId"));
        assert!(m.unwrap().starts_with("The AWS Access Key Id"));
        assert_eq!(s3_code("no xml"), (None, None));
    }

    fn cx() -> Context<'static> {
        Context {
            remote: "team",
            at: "http://127.0.0.1:9000",
            scheme: Scheme::S3,
            bucket: "bkt",
        }
    }

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: text.into(),
        }
    }

    #[test]
    fn each_failure_gets_its_one_sentence() {
        let d = Digest::of_bytes(b"x");
        let nf = |body: &str| object_store::Error::NotFound {
            path: "p".into(),
            source: body.into(),
        };
        let e = classify(&cx(), nf("<Code>NoSuchBucket</Code>"), Some(d));
        assert_eq!(
            e.to_string(),
            "remote `team`: bucket `bkt` does not exist (check the remote's url)"
        );
        assert!(matches!(
            classify(&cx(), nf("<Code>NoSuchKey</Code>"), Some(d)),
            RemoteError::Missing { .. }
        ));
        let denied = object_store::Error::PermissionDenied {
            path: "p".into(),
            source: "403 <Code>InvalidAccessKeyId</Code><Message>no such key</Message>".into(),
        };
        let e = classify(&cx(), denied, None);
        assert!(matches!(e, RemoteError::Auth { .. }));
        assert!(
            e.to_string().contains("(InvalidAccessKeyId: no such key)"),
            "{e}"
        );
        let e = classify(
            &cx(),
            generic("Server returned non-2xx status code: 503 Service Unavailable"),
            None,
        );
        assert!(e.is_transient() && e.is_fatal(), "{e:?}");
        let e = classify(
            &cx(),
            generic("status code: 400 <Code>SlowDown</Code>"),
            None,
        );
        assert!(e.is_transient());
        let e = classify(
            &cx(),
            generic("status code: 400 <Code>SignatureDoesNotMatch</Code>"),
            None,
        );
        assert!(matches!(e, RemoteError::Auth { .. }));
        let e = classify(
            &cx(),
            generic("status code: 400 <Code>InvalidArgument</Code>"),
            None,
        );
        assert!(!e.is_transient() && !e.is_fatal(), "{e:?}");
    }
}
