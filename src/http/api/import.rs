//! `POST /api/v1/import?dry_run=true`: the CSV files of DESIGN section 7 as
//! `multipart/form-data`, one part per file, named by its file name. The
//! parts are streamed to files beside the database (never held whole in
//! memory), then the import engine runs them in the writer thread, all or
//! nothing, exactly as `firmhook import` does offline. A firm token may
//! import its own firm's rows only.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::{Answer, ApiError, Scope, ok, reply};
use crate::http::body::{self, Refusal};
use crate::http::{Door, Query};
use crate::import::{FILES, ImportError, Mode, Progress};

pub async fn post(door: &Door, scope: &Scope, request: Request<Incoming>, query: &Query) -> Answer {
    let mode = match query.get("dry_run") {
        Some("true") => Mode::DryRun,
        None | Some("false") | Some("") => Mode::Apply,
        Some(other) => {
            return Err(ApiError::invalid(
                "dry_run",
                format!("expected true or false, not {other:?}"),
            ));
        }
    };
    let progress = match query.get("overwrite_status") {
        Some("true") => Progress::Overwrite,
        None | Some("false") | Some("") => Progress::Keep,
        Some(other) => {
            return Err(ApiError::invalid(
                "overwrite_status",
                format!("expected true or false, not {other:?}"),
            ));
        }
    };
    let boundary = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send multipart/form-data with one part per CSV file",
            )
        })?;
    let dir = Upload::new(&door.state.data_dir)?;
    let limits = &door.state.limits;
    let limit = limits.import;
    // Every byte of the body counts, part headers and boundaries too; the
    // body has a deadline as a whole and between chunks, and ends at
    // shutdown (DESIGN section 10).
    let arrived = Arc::new(AtomicU64::new(0));
    let stream = {
        let arrived = arrived.clone();
        let stream = body::stream(
            request.into_body(),
            Instant::now() + limits.import_deadline,
            limits.deadline,
            limit + limits.drain,
            door.closing.clone(),
        );
        futures_util::StreamExt::map(stream, move |chunk| {
            if let Ok(chunk) = &chunk {
                arrived.fetch_add(chunk.len() as u64, Relaxed);
            }
            chunk
        })
    };
    let mut parts = multer::Multipart::new(stream, boundary);
    // Bytes handed on as parts' contents: what arrived beyond them sits in
    // the multipart reader's buffer (part headers, boundaries), which may
    // not grow past a small bound.
    let mut passed = 0u64;
    let mut received = 0u64;
    let mut files = 0;
    let mut too_large = false;
    let mut staged: Option<tokio::sync::OwnedSemaphorePermit> = None;
    loop {
        let next = tokio::select! {
            next = parts.next_field() => next,
            () = buffered_over(&arrived, passed, PART_HEADERS_MAX) => {
                return Err(ApiError::bad_request(format!(
                    "a multipart part's headers run on past {} KiB",
                    PART_HEADERS_MAX >> 10
                )));
            }
        };
        let Some(mut part) = next.map_err(unreadable)? else {
            break;
        };
        let name = part
            .file_name()
            .or(part.name())
            .unwrap_or_default()
            .to_owned();
        let name = name.rsplit('/').next().unwrap_or_default().to_owned();
        if !FILES.contains(&name.as_str()) {
            return Err(ApiError::invalid(
                "file",
                format!(
                    "unknown part {name:?} (expected one of: {})",
                    FILES.join(", ")
                ),
            ));
        }
        let path = dir.0.join(&name);
        let mut file = crate::private::create(&path).map_err(ApiError::internal)?;
        while let Some(chunk) = part.chunk().await.map_err(unreadable)? {
            passed += chunk.len() as u64;
            received += chunk.len() as u64;
            if received > limit {
                // Read on (discarding) up to the drain bound, so a client
                // that sends everything first reads the 413.
                too_large = true;
                if received > limit + door.state.limits.drain {
                    break;
                }
                continue;
            }
            // What every import in flight stages is bounded together.
            let more = door.staging.take(chunk.len()).ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "other imports are being received; retry later",
                )
            })?;
            match &mut staged {
                Some(held) => held.merge(more),
                None => staged = Some(more),
            }
            file.write_all(&chunk).map_err(ApiError::internal)?;
        }
        files += 1;
        if received > limit + door.state.limits.drain {
            break;
        }
    }
    if too_large {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "import over {} MiB (FIRMHOOK_IMPORT_LIMIT_MB)",
                limit / (1024 * 1024)
            ),
        ));
    }
    if files == 0 {
        return Err(ApiError::bad_request(
            "the multipart body has no parts: send one part per CSV file",
        ));
    }
    let result = door
        .state
        .writer
        .import(dir.0.clone(), mode, scope.limited_to(), progress)
        .await;
    match result {
        Ok(report) => {
            let mut counts = Map::new();
            for (file, c) in &report.files {
                counts.insert(
                    (*file).to_owned(),
                    json!({"new": c.inserted, "updated": c.updated, "unchanged": c.unchanged}),
                );
            }
            let warnings: Vec<String> = report.warnings.iter().map(|w| w.relative()).collect();
            ok(&json!({"counts": counts, "warnings": warnings}))
        }
        Err(ImportError::Invalid(errors)) => {
            let errors: Vec<Value> = errors.iter().map(|e| Value::String(e.relative())).collect();
            reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({ "errors": errors }),
            )
        }
        Err(ImportError::Store(err)) => Err(ApiError::internal(err)),
    }
}

/// The most bytes of part headers (and boundaries) held at once.
const PART_HEADERS_MAX: u64 = 64 * 1024;

/// Resolves once more than `max` bytes have arrived beyond the `passed`
/// bytes handed on as parts' contents.
async fn buffered_over(arrived: &AtomicU64, passed: u64, max: u64) {
    loop {
        if arrived.load(Relaxed).saturating_sub(passed) > max {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A multipart error in words, with the body's own refusals (too large,
/// too slow, shutdown) told as such.
fn unreadable(err: multer::Error) -> ApiError {
    if let multer::Error::StreamReadFailed(cause) = &err
        && let Some(refusal) = cause.downcast_ref::<Refusal>()
    {
        return match refusal {
            Refusal::TooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "import over its limit (FIRMHOOK_IMPORT_LIMIT_MB)",
            ),
            Refusal::TimedOut => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timed_out",
                "the import body took too long",
            ),
            Refusal::Closing => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "closing",
                "the server is shutting down",
            ),
            Refusal::Busy | Refusal::Unreadable => {
                ApiError::bad_request("unreadable multipart body")
            }
        };
    }
    ApiError::bad_request(format!("unreadable multipart body: {err}"))
}

/// A private directory for one upload, removed when dropped.
struct Upload(std::path::PathBuf);

impl Upload {
    fn new(beside: &std::path::Path) -> Result<Self, ApiError> {
        let dir = beside.join(format!(".import-{}", uuid::Uuid::new_v4().simple()));
        crate::private::create_dir_all(&dir).map_err(ApiError::internal)?;
        Ok(Self(dir))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
