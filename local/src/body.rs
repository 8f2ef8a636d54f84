//! Request bodies at the local gateway: read whole within API Gateway's limit and a time limit, and
//! a body that is not wanted (too large, or the answer is known without it) read to its end and
//! dropped before the answer is sent.
//!
//! Dropping is what lets the client read the answer: hyper reads no body it is not asked for, and
//! a socket closed with unread bytes in it is reset by the kernel, which throws away the answer
//! waiting in the client's receive buffer; a client still sending sees a broken pipe instead of
//! the 413. So the rest is read, up to [`MAX_DISCARDED_BYTES`] and the request's time limit.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// API Gateway's payload limit: larger bodies are refused, from `Content-Length` when there is
/// one, else as soon as they pass it.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How much of a body the gateway reads only to drop it. Beyond this (or the time limit) it
/// answers and closes the connection, and a client still sending may see a reset.
pub const MAX_DISCARDED_BYTES: u64 = 32 * 1024 * 1024;

/// Why a body was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Over [`MAX_BODY_BYTES`]: 413.
    TooLarge,
    /// Not received by the deadline: 408.
    TooSlow,
    /// The connection broke or the framing was wrong: 400.
    Unreadable,
}

/// Reads `body` whole, refusing it past [`MAX_BODY_BYTES`] or `deadline`. A body refused as too
/// large is first read to its end and dropped (see the module's comment).
pub async fn read(
    body: Incoming,
    headers: &HeaderMap,
    deadline: Instant,
) -> Result<Bytes, Refused> {
    if declared_length(headers).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        discard(body, headers, deadline).await;
        return Err(Refused::TooLarge);
    }
    let mut body = body;
    let mut bytes = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
            Err(_) => return Err(Refused::TooSlow),
            Ok(None) => return Ok(bytes.freeze()),
            Ok(Some(Err(_))) => return Err(Refused::Unreadable),
            Ok(Some(Ok(frame))) => frame,
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if bytes.len() + data.len() > MAX_BODY_BYTES {
            let seen = (bytes.len() + data.len()) as u64;
            drop(bytes);
            drain(body, seen, deadline).await;
            return Err(Refused::TooLarge);
        }
        bytes.extend_from_slice(data);
    }
}

/// Reads and drops `body` before an answer that does not need it, unless the client waits for
/// `100 Continue` (it has sent nothing, and will not once it has the answer) or announced more
/// than [`MAX_DISCARDED_BYTES`] (reading that much only to close anyway helps nobody).
pub async fn discard(body: Incoming, headers: &HeaderMap, deadline: Instant) {
    if expects_continue(headers)
        || declared_length(headers).is_some_and(|n| n > MAX_DISCARDED_BYTES)
    {
        return;
    }
    drain(body, 0, deadline).await;
}

/// Reads frames and drops them until the end, [`MAX_DISCARDED_BYTES`] in all (`seen` counted
/// already), or `deadline`.
async fn drain(mut body: Incoming, mut seen: u64, deadline: Instant) {
    let _ = tokio::time::timeout_at(deadline.into(), async {
        while seen <= MAX_DISCARDED_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                Some(Err(_)) | None => break,
            }
        }
    })
    .await;
}

/// The `Content-Length` the client announced, if it is a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the client waits for `100 Continue` before it sends its body.
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}
