//! `POST /api/v1/import?dry_run=true`: the CSV files of DESIGN section 7 as
//! `multipart/form-data`, one part per file, named by its file name. The
//! parts are streamed to files beside the database (never held whole in
//! memory), then the import engine runs them in the writer thread, all or
//! nothing, exactly as `firmhook import` does offline. A firm token may
//! import its own firm's rows only.

use std::io::Write;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value, json};

use super::{Answer, ApiError, Scope, ok, reply};
use crate::http::{Door, Query};
use crate::import::{FILES, ImportError, Mode};

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
    let limit = door.state.limits.import;
    let stream = request.into_body().into_data_stream();
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut received = 0u64;
    let mut files = 0;
    let mut too_large = false;
    while let Some(mut part) = parts
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("unreadable multipart body: {e}")))?
    {
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
        while let Some(chunk) = part
            .chunk()
            .await
            .map_err(|e| ApiError::bad_request(format!("unreadable part {name:?}: {e}")))?
        {
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
        .import(dir.0.clone(), mode, scope.limited_to())
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
