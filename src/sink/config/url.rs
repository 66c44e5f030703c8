//! The parts of an endpoint URL that resolution, the doctor and messages need, for URLs
//! that may lack their scheme.

/// Replaces `user:password@` in a URL with `<redacted>@`, so it can be printed.
pub fn redact_url(url: &str) -> String {
    replace_userinfo(url, "<redacted>@")
}

/// A URL without its `user:password@`, so it can be written down (a spool file's destination).
pub fn without_userinfo(url: &str) -> String {
    replace_userinfo(url, "")
}

fn replace_userinfo(url: &str, with: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{with}{host}"),
        None => authority.to_owned(),
    };
    match scheme {
        Some(s) => format!("{s}://{host}{tail}"),
        None => format!("{host}{tail}"),
    }
}

pub(super) fn is_loopback_host(authority: &str) -> bool {
    let (host, _) = host_and_port(authority);
    matches!(host, "localhost" | "127.0.0.1" | "::1") || host.starts_with("127.")
}

/// Host (without userinfo or IPv6 brackets) and written port of a URL's authority; the URL
/// may lack its scheme.
pub fn host_and_port(url: &str) -> (&str, Option<u16>) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match authority.strip_prefix('[').and_then(|a| a.split_once(']')) {
        Some((host, after)) => (host, after.strip_prefix(':')),
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    (host, port.and_then(|p| p.parse().ok()))
}

/// Port of a URL's authority, if written.
pub(super) fn port_of(url: &str) -> Option<u16> {
    host_and_port(url).1
}

pub fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}
