//! Who is asking: the client address rate limits count by. It is the
//! address API Gateway saw (`sourceIp`) or the local server's peer, never a
//! header the client wrote, unless [`AppState`](crate::AppState) names
//! trusted proxy hops in front of us: then it is read that many hops back
//! from the right of `X-Forwarded-For`.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;

/// The client address the transport saw (API Gateway's `sourceIp`, the
/// local server's peer address).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// The key a client is counted under: its IPv4 address, or the /64 of its
/// IPv6 address (one subscriber usually holds a whole /64, so counting
/// single v6 addresses would let one client rotate past every limit).
/// `None` when there is no usable address.
pub fn client_key(
    seen: Option<&ClientIp>,
    headers: &HeaderMap,
    trusted_hops: usize,
) -> Option<String> {
    let seen = seen.map(|c| c.0.as_str())?;
    let address = if trusted_hops == 0 {
        seen.to_owned()
    } else {
        // The chain as our trusted proxies built it: each appended the
        // address it received from, we add the one that reached us. Entries
        // left of the trusted hops are the client's own claims.
        let mut chain: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        // API Gateway appends the address it saw to `X-Forwarded-For`
        // itself; a local proxy's peer is not in it. Count that hop once.
        if chain.last().map(String::as_str) != Some(seen) {
            chain.push(seen.to_owned());
        }
        let index = chain.len().saturating_sub(trusted_hops + 1);
        chain.swap_remove(index)
    };
    normalize(&address)
}

fn normalize(address: &str) -> Option<String> {
    let ip: IpAddr = address.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn key(seen: &str, xff: Option<&str>, hops: usize) -> Option<String> {
        let mut headers = HeaderMap::new();
        if let Some(x) = xff {
            headers.insert("x-forwarded-for", HeaderValue::from_str(x).unwrap());
        }
        client_key(Some(&ClientIp(seen.into())), &headers, hops)
    }

    #[test]
    fn a_forwarded_for_header_is_ignored_unless_proxy_hops_are_trusted() {
        assert_eq!(
            key("203.0.113.9", Some("198.51.100.1"), 0).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            key("203.0.113.9", Some("6.6.6.6, 198.51.100.1"), 1).as_deref(),
            Some("198.51.100.1"),
            "one trusted hop: the address it received from"
        );
        assert_eq!(
            key("203.0.113.9", Some("6.6.6.6, 198.51.100.1, 10.0.0.2"), 2).as_deref(),
            Some("198.51.100.1")
        );
        assert_eq!(
            key("203.0.113.9", Some("198.51.100.1, 203.0.113.9"), 1).as_deref(),
            Some("198.51.100.1"),
            "API Gateway's own entry (the address it saw) is one hop, not two"
        );
        assert_eq!(
            key("203.0.113.9", None, 1).as_deref(),
            Some("203.0.113.9"),
            "fewer entries than hops: the leftmost"
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            key("2001:db8:1:2:aaaa::1", None, 0).as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(
            key("2001:db8:1:2:bbbb::9", None, 0),
            key("2001:db8:1:2:aaaa::1", None, 0)
        );
        assert_eq!(
            key("::ffff:192.0.2.7", None, 0).as_deref(),
            Some("192.0.2.7")
        );
        assert_eq!(key("not an ip", None, 0), None);
    }
}
