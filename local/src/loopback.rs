//! Which names the local tools answer to, and where the gateway listens.
//!
//! The local tools (`/_local/…`: the outbox with every sign-in code and link of the machine, the
//! signed blob URLs; `/docs` and `/openapi.yaml`) belong to the person at this machine. A web
//! page they visit could reach them through DNS rebinding: its own name, re-resolved to 127.0.0.1,
//! makes the browser treat the gateway as that page's origin. The browser still sends the page's
//! name as `Host`, so the tools answer only to loopback names and addresses (and to the name the
//! gateway was configured to be reached at, which an attacker does not control). The check stops
//! browsers; a client that can reach the port can send any `Host`, which is why the gateway
//! listens on loopback unless told otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where the gateway listens when `BIND_ADDRESS` is not set: this machine only.
pub const DEFAULT_BIND_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// What the local tools answer a request made under another name (421 Misdirected Request: this
/// gateway will not answer for that name, whoever asks).
pub const NOT_LOCAL: &str =
    "The local tools answer only at localhost, 127.0.0.1 or [::1] (and at PUBLIC_BASE_URL).";

/// Whether `path` is one of the local tools rather than the API.
pub fn is_local_tool(path: &str) -> bool {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    under("/_local") || under("/docs") || path == "/openapi.yaml"
}

/// Whether the authority `host[:port]` (a `Host` header, or the request target's authority) names
/// this machine's loopback: `localhost`, an address in 127.0.0.0/8, or `[::1]`, with any port.
/// `*.localhost` is refused: nothing here uses it, and a resolver that does not keep it on
/// loopback (RFC 6761 only asks it to) would let a rebinding page in.
pub fn is_loopback_authority(authority: &str) -> bool {
    authority_host(authority).is_some_and(|host| match host {
        Host::Name(name) => name.eq_ignore_ascii_case("localhost"),
        Host::V4(ip) => ip.is_loopback(),
        Host::V6(ip) => ip.is_loopback(),
    })
}

/// Whether `authority` names `host` (a configured name, without a port), whatever its port.
pub fn authority_is(authority: &str, host: &str) -> bool {
    match authority_host(authority) {
        Some(Host::Name(name)) => !host.is_empty() && name.eq_ignore_ascii_case(host),
        Some(Host::V4(ip)) => host.parse::<Ipv4Addr>().is_ok_and(|h| h == ip),
        Some(Host::V6(ip)) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<Ipv6Addr>()
            .is_ok_and(|h| h == ip),
        None => false,
    }
}

/// The host part of an authority, once it is well formed.
enum Host<'a> {
    Name(&'a str),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// Splits `host[:port]` or `[v6][:port]`; `None` for anything else (user info, a list, an empty
/// or non-numeric port, characters no host name has).
fn authority_host(authority: &str) -> Option<Host<'_>> {
    let port_ok =
        |port: &str| (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(port_ok)) {
            return None;
        }
        return v6.parse().ok().map(Host::V6);
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port_ok(port) => host,
        Some(_) => return None,
        None => authority,
    };
    let name_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !name_ok {
        return None;
    }
    Some(match host.parse::<Ipv4Addr>() {
        Ok(ip) => Host::V4(ip),
        Err(_) => Host::Name(host),
    })
}

/// The address to listen on: `BIND_ADDRESS` when set (an IP address: `0.0.0.0` or `::` for every
/// interface), else loopback.
pub fn bind_address(configured: Option<&str>) -> Result<IpAddr, String> {
    match configured.map(str::trim) {
        None | Some("") => Ok(DEFAULT_BIND_ADDRESS),
        Some(value) => value
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                format!(
                    "BIND_ADDRESS must be an IP address such as 127.0.0.1, ::1 or 0.0.0.0, not {value:?}"
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_with_any_port() {
        for ok in [
            "localhost",
            "LOCALHOST:3000",
            "127.0.0.1",
            "127.0.0.1:3000",
            "127.255.0.9:1",
            "[::1]",
            "[::1]:3000",
            "[0:0:0:0:0:0:0:1]:80",
        ] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for refused in [
            "",
            ":3000",
            "evil.example",
            "localhost.evil.example",
            "api.localhost",
            "127.0.0.1.nip.io",
            "localhost:",
            "localhost:abc",
            "localhost:123456",
            "localhost:3000, evil.example",
            "user@localhost",
            "[::1",
            "[::1]x",
            "[::ffff:127.0.0.1]",
            "::1",
            "10.0.0.1:3000",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_authority(refused), "{refused}");
        }
    }

    #[test]
    fn a_configured_name_matches_with_any_port() {
        assert!(authority_is("devbox.example:3000", "devbox.example"));
        assert!(authority_is("DevBox.example", "devbox.example"));
        assert!(authority_is("192.168.1.5:3000", "192.168.1.5"));
        assert!(authority_is("[fe80::1]:3000", "[fe80::1]"));
        assert!(!authority_is("evil.example", "devbox.example"));
        assert!(!authority_is(
            "devbox.example.evil.example",
            "devbox.example"
        ));
        assert!(!authority_is("", ""));
    }

    #[test]
    fn the_bind_address_is_loopback_unless_an_address_is_given() {
        assert_eq!(bind_address(None), Ok(DEFAULT_BIND_ADDRESS));
        assert_eq!(bind_address(Some(" ")), Ok(DEFAULT_BIND_ADDRESS));
        assert_eq!(
            bind_address(Some("0.0.0.0")),
            Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(
            bind_address(Some("::")),
            Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );
        assert_eq!(
            bind_address(Some("[::1]")),
            Ok(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        let refused = bind_address(Some("localhost")).unwrap_err();
        assert!(refused.contains("BIND_ADDRESS"), "{refused}");
    }

    #[test]
    fn local_tools_are_the_outbox_blobs_docs_and_contract() {
        for path in [
            "/_local",
            "/_local/outbox",
            "/_local/blobs/a/b",
            "/docs",
            "/docs/",
            "/docs/x.js",
            "/openapi.yaml",
        ] {
            assert!(is_local_tool(path), "{path}");
        }
        for path in ["/token/", "/_localx", "/docsx", "/api/", "/openapi.yml"] {
            assert!(!is_local_tool(path), "{path}");
        }
    }
}
