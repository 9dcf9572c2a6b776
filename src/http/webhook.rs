//! `POST /webhook`: Meta's door.
//!
//! In this order: a missing or malformed `X-Hub-Signature-256` is answered
//! 401 before the body is read; the body is read within the limits of
//! [`super::body`]; the signature is checked over the raw bytes; only then
//! is anything parsed. The answer waits for the writer's commit: 200 once
//! the delivery is durable, 500 if the commit failed (Meta redelivers).

use std::sync::atomic::Ordering::Relaxed;

use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use tokio::time::Instant;

use super::body::{self, Refusal};
use super::{Body, Door, text};
use crate::whatsapp::inbound;
use crate::whatsapp::signature::{self, Signature};

/// What a client refused for lack of memory is told to wait, in seconds.
const RETRY_AFTER_SECONDS: &str = "5";

pub(super) async fn post(request: Request<Incoming>, door: &Door) -> Response<Body> {
    let state = &door.state;
    let (parts, mut incoming) = request.into_parts();
    let mut body = body::Request {
        body: &mut incoming,
        until: Instant::now() + state.limits.deadline,
        limits: &state.limits,
        closing: door.closing.clone(),
    };
    let header = parts.headers.get(signature::HEADER).map(|v| v.as_bytes());
    let signature = match Signature::parse(header) {
        Ok(signature) => signature,
        Err(err) => {
            state.metrics.signature_failures.fetch_add(1, Relaxed);
            return early(&mut body, StatusCode::UNAUTHORIZED, &format!("{err}\n")).await;
        }
    };
    // Until the signature is checked, the body's bytes also count against
    // its address's share: strangers hold nothing that signed deliveries
    // need (DESIGN section 10).
    let mut unsigned = door.client.unsigned();
    let held = match body.read(&door.budget, Some(&mut unsigned)).await {
        Ok(held) => held,
        Err(refusal) => {
            unsigned.release();
            return refused(&mut body, refusal, door).await;
        }
    };
    unsigned.release();
    if let Err(err) = signature.verify(&state.app_secret, &held.bytes) {
        state.metrics.signature_failures.fetch_add(1, Relaxed);
        return text(StatusCode::UNAUTHORIZED, &format!("{err}\n"));
    }
    let parsed = inbound::parse(&held.bytes);
    drop(held);
    let delivery = match parsed {
        Ok(delivery) => delivery,
        Err(err) => return text(StatusCode::BAD_REQUEST, &format!("{err}\n")),
    };
    for dropped in &delivery.dropped {
        state.metrics.dropped(dropped.as_str());
    }
    match state.writer.deliver(delivery).await {
        Ok(()) => text(StatusCode::OK, "ok\n"),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, ""),
    }
}

async fn refused(body: &mut body::Request<'_>, refusal: Refusal, door: &Door) -> Response<Body> {
    let metrics = &door.state.metrics;
    match refusal {
        Refusal::TooLarge => {
            metrics.refused("too_large");
            early(body, StatusCode::PAYLOAD_TOO_LARGE, "body over 3 MiB\n").await
        }
        Refusal::Busy => {
            metrics.refused("busy");
            let mut response =
                early(body, StatusCode::SERVICE_UNAVAILABLE, "busy, retry later\n").await;
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
            response
        }
        // The deadline is spent or the server stops: nothing more is read.
        Refusal::TimedOut => {
            metrics.refused("timed_out");
            closing(text(
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long\n",
            ))
        }
        Refusal::Closing => {
            metrics.refused("closing");
            closing(text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"))
        }
        Refusal::Unreadable => {
            metrics.refused("unreadable");
            closing(text(StatusCode::BAD_REQUEST, "unreadable body\n"))
        }
    }
}

/// An answer given before the body was read: discard what the client still
/// sends (within the deadline and the drain bound) so that it reads this
/// answer rather than a reset, then close the connection.
async fn early(body: &mut body::Request<'_>, status: StatusCode, message: &str) -> Response<Body> {
    body.drain().await;
    closing(text(status, message))
}

fn closing(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}
