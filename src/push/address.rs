//! Where event webhooks may be sent: public addresses only (DESIGN
//! section 10), so a firm's webhook URL cannot reach the server's own
//! network: its loopback, a cloud metadata address, a private range.
//!
//! The check runs at connect time, on every address the host resolves to
//! (a name that resolves to a private address now is refused now, whatever
//! it resolved to when it was set), so DNS cannot be used to slip past it.
//! `FIRMHOOK_ALLOW_PRIVATE_HOOKS=1` (tests, dev mode) lifts it. Redirects
//! are never followed, so a public receiver cannot bounce a push inward.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Whether hooks may reach private addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    PublicOnly,
    /// `FIRMHOOK_ALLOW_PRIVATE_HOOKS=1`: for tests and dev mode, whose
    /// receivers run on loopback.
    Private,
}

/// Whether `ip` is an address an event push may go to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        // 0.0.0.0/8 ("this network") and 100.64.0.0/10 (carrier-grade NAT).
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 (protocol assignments) and 240.0.0.0/4 (reserved).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        // fec0::/10, the old site-local range, and 64:ff9b:1::/48, local NAT64.
        || (first & 0xffc0) == 0xfec0
        || (first == 0x64 && ip.segments()[1] == 0xff9b && ip.segments()[2] == 1))
}

/// The agent event pushes go out with: no redirects, no proxy from the
/// environment, `timeout` per attempt, and (unless `reach` allows private
/// addresses) a resolver that refuses every host with a private address.
pub fn agent(reach: Reach, timeout: std::time::Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .build();
    ureq::Agent::with_parts(config, DefaultConnector::new(), PublicOnly(reach))
}

#[derive(Debug)]
struct PublicOnly(Reach);

impl Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let found = DefaultResolver::default().resolve(uri, config, timeout)?;
        if self.0 == Reach::PublicOnly && found.iter().any(|a| !is_public(a.ip())) {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the webhook's host has a private address",
            )));
        }
        Ok(found)
    }
}

/// Refuses, when it is set, a webhook URL whose host is a private address
/// literal; names are checked when a push connects.
pub fn check_url(url: &str, reach: Reach) -> Result<(), String> {
    match literal_host(url.trim()) {
        Some(ip) if reach == Reach::PublicOnly && !is_public(ip) => Err(format!(
            "{ip} is a private address: event webhooks go to public addresses only"
        )),
        _ => Ok(()),
    }
}

/// The host of an http(s) URL when it is an address literal (as
/// `[::1]` or `127.0.0.1`): set-time's early refusal of what the connect
/// time check would refuse anyway.
pub fn literal_host(url: &str) -> Option<IpAddr> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next()?.parse().ok();
    }
    host.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn literal_hosts_are_read_from_urls() {
        let ip = |u: &str| literal_host(u).map(|ip| ip.to_string());
        assert_eq!(ip("http://127.0.0.1:8080/x"), Some("127.0.0.1".into()));
        assert_eq!(ip("https://[::1]/hook"), Some("::1".into()));
        assert_eq!(ip("https://user@10.0.0.1/"), Some("10.0.0.1".into()));
        assert_eq!(ip("https://example.com/hook"), None);
        // Decimal and hex forms are names to std; the resolver's check at
        // connect time catches them.
        assert_eq!(ip("http://2130706433/"), None);
    }
}
