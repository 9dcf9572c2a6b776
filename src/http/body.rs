//! Request bodies read within limits, so that nobody can hold the server's
//! connections or memory without a signature:
//!
//! - a deadline: the body must arrive within [`Limits::deadline`] of its
//!   headers (which hyper bounds with its header timeout);
//! - a size limit per body, and a memory budget across every connection,
//!   charged as bytes arrive (never by a declared `Content-Length`): a body
//!   is only read while the bytes it brings are free in the budget,
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

use super::clients::Unsigned;

/// The most a body's buffer is given before its bytes arrive.
const FIRST_ALLOCATION: usize = 64 * 1024;

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
    /// Largest online import (`FIRMHOOK_IMPORT_LIMIT_MB`, default 256),
    /// and the most bytes all imports in flight may stage together.
    pub import: u64,
    /// Time for a whole online import body; each of its chunks must come
    /// within [`Limits::deadline`] of the one before.
    pub import_deadline: Duration,
    /// Connections per client address (`FIRMHOOK_MAX_CONN_PER_IP`); 0: no
    /// cap.
    pub per_address: usize,
    /// Webhook body bytes one address may have in memory before their
    /// signature is checked, across its connections.
    pub unsigned_share: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body: 3 * 1024 * 1024,
            deadline: Duration::from_secs(30),
            memory: 64 * 1024 * 1024,
            drain: 16 * 1024 * 1024,
            import: 256 * 1024 * 1024,
            import_deadline: Duration::from_secs(600),
            per_address: super::clients::DEFAULT_MAX_PER_ADDRESS,
            unsigned_share: 4 * 1024 * 1024,
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

    pub fn take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the body is over the limit")]
    TooLarge,
    /// The memory budget is spent: try again later.
    #[error("busy")]
    Busy,
    #[error("the body took too long")]
    TimedOut,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Closing,
    /// The connection broke or the framing was invalid.
    #[error("unreadable body")]
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

    /// Reads the whole body, within the limits and the budget. Bytes are
    /// charged as they arrive, never by the declared length: a client that
    /// declares 1 MiB and sends nothing holds nothing. With `unsigned`,
    /// every byte also counts against its address's share of unverified
    /// bytes until the caller releases it.
    pub async fn read(
        &mut self,
        budget: &Budget,
        mut unsigned: Option<&mut Unsigned>,
    ) -> Result<Held, Refusal> {
        let limit = self.limits.body;
        if self
            .declared()
            .is_some_and(|declared| declared > limit as u64)
        {
            return Err(Refusal::TooLarge);
        }
        let mut permit: Option<OwnedSemaphorePermit> = None;
        // Room for what is declared, up to a small first allocation: the
        // buffer grows with what arrives, not with what is promised.
        let first = self.declared().unwrap_or(0).min(FIRST_ALLOCATION as u64) as usize;
        let mut out = BytesMut::with_capacity(first);
        while let Some(chunk) = self.next_chunk().await? {
            if out.len() + chunk.len() > limit {
                return Err(Refusal::TooLarge);
            }
            if let Some(unsigned) = unsigned.as_deref_mut()
                && !unsigned.take(chunk.len())
            {
                return Err(Refusal::Busy);
            }
            let more = budget.take(chunk.len()).ok_or(Refusal::Busy)?;
            match &mut permit {
                Some(held) => held.merge(more),
                None => permit = Some(more),
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
        next_chunk(self.body, self.until, &mut self.closing).await
    }
}

/// A long body (an online import) as a stream of chunks: the whole of it
/// within `until`, each chunk within `idle` of the one before, `limit`
/// bytes at most in all; shutdown ends it.
pub fn stream(
    body: Incoming,
    until: Instant,
    idle: Duration,
    limit: u64,
    closing: watch::Receiver<bool>,
) -> impl futures_core::Stream<Item = Result<Bytes, Refusal>> + Send + 'static {
    struct Reading {
        body: Incoming,
        closing: watch::Receiver<bool>,
        received: u64,
        over: bool,
    }
    let reading = Reading {
        body,
        closing,
        received: 0,
        over: false,
    };
    futures_util::stream::unfold(reading, move |mut r| async move {
        if r.over {
            return None;
        }
        let due = until.min(Instant::now() + idle);
        let next = next_chunk(&mut r.body, due, &mut r.closing).await;
        match next {
            Ok(None) => None,
            Ok(Some(chunk)) => {
                r.received += chunk.len() as u64;
                if r.received > limit {
                    r.over = true;
                    return Some((Err(Refusal::TooLarge), r));
                }
                Some((Ok(chunk), r))
            }
            Err(refusal) => {
                r.over = true;
                Some((Err(refusal), r))
            }
        }
    })
}

/// The next data chunk of `body`, `None` at its end.
async fn next_chunk(
    body: &mut Incoming,
    until: Instant,
    closing: &mut watch::Receiver<bool>,
) -> Result<Option<Bytes>, Refusal> {
    loop {
        let frame = tokio::select! {
            frame = tokio::time::timeout_at(until, body.frame()) => frame,
            _ = closing.wait_for(|closing| *closing) => return Err(Refusal::Closing),
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
