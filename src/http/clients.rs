//! What each client address holds: its open connections and the body bytes
//! it has sent that no signature vouches for yet (DESIGN section 10).
//!
//! - At most [`Clients::max_connections`] connections per address
//!   (`FIRMHOOK_MAX_CONN_PER_IP`, default 64; 0: no cap). One address
//!   cannot take the server's connection slots from everyone else.
//! - Webhook bodies are charged here as their bytes arrive, until their
//!   signature is checked: one address holds at most
//!   [`Clients::unsigned_share`] bytes unverified across all its
//!   connections, so a stranger's wrong-signature bodies cannot spend the
//!   memory budget that signed deliveries need. A connection that sends
//!   nothing holds nothing.
//!
//! Behind a reverse proxy every client has the proxy's address: there the
//! proxy must cap clients (nginx buffers a request's body before it
//! forwards it), and `FIRMHOOK_MAX_CONN_PER_IP=0` lifts the cap here.
//! Not here: rate limits of sign-ins and tokens (`console` and `api`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Connections one address may hold unless configured otherwise.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 64;

pub struct Clients {
    by_address: Mutex<HashMap<IpAddr, Usage>>,
    /// Connections per address; 0: no cap.
    max_connections: usize,
    /// Unverified body bytes per address.
    unsigned_share: usize,
}

#[derive(Default)]
struct Usage {
    connections: usize,
    unsigned: usize,
    /// Failed sign-ins and unknown tokens: the tries left, and when that
    /// count was last brought up to date.
    tries: Option<(f64, Instant)>,
}

/// Addresses remembered before those holding nothing are swept out.
const SWEEP_AT: usize = 65_536;

/// Failed authentications an address may make at once…
pub const AUTH_BURST: f64 = 20.0;
/// …and how many it gets back per second after.
pub const AUTH_REFILL_PER_SECOND: f64 = 0.5;

impl Usage {
    fn is_idle(&self) -> bool {
        self.connections == 0 && self.unsigned == 0 && self.tries.is_none()
    }

    /// The tries left now; forgets the count once it is full again.
    fn tries_left(&mut self, now: Instant) -> f64 {
        match self.tries {
            None => AUTH_BURST,
            Some((left, at)) => {
                let left = (left + now.duration_since(at).as_secs_f64() * AUTH_REFILL_PER_SECOND)
                    .min(AUTH_BURST);
                self.tries = (left < AUTH_BURST).then_some((left, now));
                left
            }
        }
    }
}

impl Clients {
    pub fn new(max_connections: usize, unsigned_share: usize) -> Arc<Self> {
        Arc::new(Self {
            by_address: Mutex::new(HashMap::new()),
            max_connections,
            unsigned_share,
        })
    }

    fn with<T>(&self, address: IpAddr, f: impl FnOnce(&mut Usage) -> T) -> T {
        let mut map = self
            .by_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let usage = map.entry(address).or_default();
        let out = f(usage);
        if usage.is_idle() {
            map.remove(&address);
        }
        // Addresses that failed and left are forgotten once their tries are
        // back, at the latest when many have piled up.
        if map.len() > SWEEP_AT {
            let now = Instant::now();
            map.retain(|_, usage| {
                usage.tries_left(now);
                !usage.is_idle()
            });
        }
        out
    }

    /// A connection from `address`, or `None` when it holds its share.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Connection> {
        let cap = self.max_connections;
        self.with(address, |usage| {
            if cap != 0 && usage.connections >= cap {
                return None;
            }
            usage.connections += 1;
            Some(Connection {
                clients: self.clone(),
                address,
            })
        })
    }

    /// Addresses with something held.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.by_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

/// One open connection of an address; dropping it frees the slot.
pub struct Connection {
    clients: Arc<Clients>,
    address: IpAddr,
}

impl Connection {
    /// Whether this address may try to authenticate now (DESIGN section
    /// 10: failed sign-ins and unknown tokens are rate-limited per
    /// address).
    pub fn may_authenticate(&self) -> bool {
        let now = Instant::now();
        self.clients
            .with(self.address, |usage| usage.tries_left(now) >= 1.0)
    }

    /// Counts a failed sign-in or an unknown token against the address.
    pub fn authentication_failed(&self) {
        let now = Instant::now();
        self.clients.with(self.address, |usage| {
            let left = usage.tries_left(now);
            usage.tries = Some(((left - 1.0).max(0.0), now));
        });
    }

    /// A tally of this request's unverified bytes, given back when dropped.
    pub fn unsigned(&self) -> Unsigned {
        Unsigned {
            clients: self.clients.clone(),
            address: self.address,
            held: 0,
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.clients
            .with(self.address, |usage| usage.connections -= 1);
    }
}

/// Body bytes an address has sent that no signature vouches for yet.
pub struct Unsigned {
    clients: Arc<Clients>,
    address: IpAddr,
    held: usize,
}

impl Unsigned {
    /// Charges `bytes` more; false (nothing charged) past the address's
    /// share.
    pub fn take(&mut self, bytes: usize) -> bool {
        let share = self.clients.unsigned_share;
        let taken = self.clients.with(self.address, |usage| {
            if usage.unsigned + bytes > share {
                return false;
            }
            usage.unsigned += bytes;
            true
        });
        if taken {
            self.held += bytes;
        }
        taken
    }

    /// The signature checked out (or the body was refused): the bytes stop
    /// counting against the address.
    pub fn release(&mut self) {
        let held = std::mem::take(&mut self.held);
        if held > 0 {
            self.clients
                .with(self.address, |usage| usage.unsigned -= held);
        }
    }
}

impl Drop for Unsigned {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_its_share_and_no_more_and_gets_it_back() {
        let clients = Clients::new(2, 100);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let first = clients.admit(a).unwrap();
        let second = clients.admit(a).unwrap();
        assert!(clients.admit(a).is_none(), "a third connection from a");
        let other = clients.admit(b).expect("b is not a's share");
        drop(second);
        let third = clients.admit(a).expect("a slot was freed");

        let mut one = first.unsigned();
        let mut two = third.unsigned();
        assert!(one.take(60));
        assert!(!two.take(60), "a's 100 bytes are spent across connections");
        let mut theirs = other.unsigned();
        assert!(theirs.take(100), "b has its own share");
        one.release();
        assert!(two.take(60));
        drop((one, two, theirs, first, third, other));
        assert_eq!(clients.addresses(), 0, "nothing held is remembered");
    }

    #[test]
    fn failed_authentications_are_limited_per_address() {
        let clients = Clients::new(0, 1);
        let a = clients.admit("127.0.0.2".parse().unwrap()).unwrap();
        let b = clients.admit("127.0.0.3".parse().unwrap()).unwrap();
        for _ in 0..AUTH_BURST as usize {
            assert!(a.may_authenticate());
            a.authentication_failed();
        }
        assert!(!a.may_authenticate(), "the burst is spent");
        assert!(b.may_authenticate(), "another address is not");
    }

    #[test]
    fn zero_means_no_connection_cap() {
        let clients = Clients::new(0, 1);
        let a: IpAddr = "::1".parse().unwrap();
        let held: Vec<_> = (0..1000).map(|_| clients.admit(a).unwrap()).collect();
        assert_eq!(held.len(), 1000);
    }
}
