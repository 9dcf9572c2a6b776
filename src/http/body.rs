//! Request bodies read within limits, so that nobody can hold the server's
//! connections or memory without a signature:
//!
//! - a deadline: the body must arrive within [`Limits::deadline`] of its
//!   headers (which hyper bounds with its header timeout);
//! - a size limit per body, and a memory budget across every connection:
//!   a body is only read while the bytes it needs are free in the budget,
//!   otherwise it is refused with 503 and `Retry-After`, which Meta retries;
//! - shutdown: a body still arriving when the server stops is abandoned
//!   (it was never acknowledged, so Meta redelivers it).
//!
//! An early answer (401, 413, 503) first reads and discards what the client
//! still sends, within the same deadline and up to [`Limits::drain`] bytes:
//! clients that write the whole body before reading (urllib and many
//! others) would otherwise see a connection reset instead of the answer.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

/// What may be read, for how long, and how much memory bodies may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted (3 MiB, DESIGN section 7).
    pub body: usize,
    /// Time from the end of the headers to the end of the body: a 3 MiB
    /// body at 1 Mbit/s takes 25 s.
    pub deadline: Duration,
    /// Bytes of request bodies held in memory at once, all connections
    /// together.
    pub memory: usize,
    /// Bytes discarded at most before an early answer; past it the
    /// connection is closed.
    pub drain: u64,
    /// Largest online import (`FIRMHOOK_IMPORT_LIMIT_MB`, default 256).
    pub import: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body: 3 * 1024 * 1024,
            deadline: Duration::from_secs(30),
            memory: 64 * 1024 * 1024,
            drain: 16 * 1024 * 1024,
            import: 256 * 1024 * 1024,
        }
    }
}

/// The shared memory budget for bodies, in bytes.
#[derive(Clone)]
pub struct Budget(Arc<Semaphore>);

impl Budget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes)))
    }

    fn take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(bytes).ok()?;
        self.0.clone().try_acquire_many_owned(n).ok()
    }
}

/// A body read in full; its bytes count against the budget until dropped.
pub struct Held {
    pub bytes: Bytes,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooLarge,
    /// The memory budget is spent: try again later.
    Busy,
    TimedOut,
    /// The server is shutting down.
    Closing,
    /// The connection broke or the framing was invalid.
    Unreadable,
}

/// One request's body, read against its deadline.
pub struct Request<'a> {
    pub body: &'a mut Incoming,
    pub until: Instant,
    pub limits: &'a Limits,
    pub closing: watch::Receiver<bool>,
}

impl Request<'_> {
    /// The body's declared length, if it has one.
    pub fn declared(&self) -> Option<u64> {
        self.body.size_hint().exact()
    }

    /// Reads the whole body, within the limits and the budget.
    pub async fn read(&mut self, budget: &Budget) -> Result<Held, Refusal> {
        let limit = self.limits.body;
        let mut permit = None;
        let mut out = BytesMut::new();
        if let Some(declared) = self.declared() {
            let declared = usize::try_from(declared).map_err(|_| Refusal::TooLarge)?;
            if declared > limit {
                return Err(Refusal::TooLarge);
            }
            permit = Some(budget.take(declared).ok_or(Refusal::Busy)?);
            out.reserve(declared);
        }
        let chunked = permit.is_none();
        while let Some(chunk) = self.next_chunk().await? {
            if out.len() + chunk.len() > limit {
                return Err(Refusal::TooLarge);
            }
            if chunked {
                let more = budget.take(chunk.len()).ok_or(Refusal::Busy)?;
                match &mut permit {
                    Some(held) => held.merge(more),
                    None => permit = Some(more),
                }
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Held {
            bytes: out.freeze(),
            _permit: permit,
        })
    }

    /// Reads and discards the rest of the body, up to the drain bound and
    /// within the deadline; returns whether it reached the end.
    pub async fn drain(&mut self) -> bool {
        if self.declared().is_some_and(|n| n > self.limits.drain) {
            return false;
        }
        let mut discarded = 0u64;
        loop {
            match self.next_chunk().await {
                Ok(Some(chunk)) => {
                    discarded += chunk.len() as u64;
                    if discarded > self.limits.drain {
                        return false;
                    }
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    /// The next data chunk, `None` at the end of the body.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Refusal> {
        loop {
            let frame = tokio::select! {
                frame = tokio::time::timeout_at(self.until, self.body.frame()) => frame,
                _ = self.closing.wait_for(|closing| *closing) => return Err(Refusal::Closing),
            };
            match frame {
                Err(_) => return Err(Refusal::TimedOut),
                Ok(None) => return Ok(None),
                Ok(Some(Err(_))) => return Err(Refusal::Unreadable),
                // Trailers and other frames carry nothing we keep.
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}
