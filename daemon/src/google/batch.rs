//! Google's batch endpoint: up to [`MAX_BATCH`] calls in one
//! `multipart/mixed` request. Each result is the call's own: a part that
//! failed with 429, a rate-limit 403, 5xx or 401 (or is missing from the
//! answer) is retried alone after waiting out its `Retry-After`, and is
//! never reported as a success.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use super::Need;
use super::error;
use super::http::{Answer, Call, GoogleClient, Repeat, random_bytes};
use crate::error::Error;

/// Google's batch endpoints take 100 calls; Google recommends at most 50.
pub const MAX_BATCH: usize = 50;

impl GoogleClient {
    /// `calls` in batches of up to [`MAX_BATCH`] (one batch per [`Need`], so
    /// every part's token covers it); results in the order of `calls`.
    /// A [`Repeat::Once`] call is never batched: it runs alone.
    pub async fn batch(&self, calls: &[Call]) -> Vec<Result<Value, Error>> {
        let mut results: Vec<Option<Result<Value, Error>>> = vec![None; calls.len()];
        let mut groups: Vec<(Need, Vec<usize>)> = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            if c.repeat == Repeat::Once {
                results[i] = Some(self.call(c).await);
                continue;
            }
            match groups.iter_mut().find(|(need, _)| *need == c.need) {
                Some((_, indices)) => indices.push(i),
                None => groups.push((c.need, vec![i])),
            }
        }
        for (need, indices) in groups {
            for chunk in indices.chunks(MAX_BATCH) {
                self.batch_chunk(need, chunk, calls, &mut results).await;
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::internal("batch", "a call got no result"))))
            .collect()
    }

    /// One chunk: `indices` into `calls`, results written to `results`.
    async fn batch_chunk(
        &self,
        need: Need,
        indices: &[usize],
        calls: &[Call],
        results: &mut [Option<Result<Value, Error>>],
    ) {
        if let [only] = indices {
            results[*only] = Some(self.call(&calls[*only]).await);
            return;
        }
        let chunk: Vec<&Call> = indices.iter().map(|&i| &calls[i]).collect();
        // Positions in `chunk` to retry alone, and how long Google asked to wait.
        let mut retry = Vec::new();
        let mut wait = Duration::ZERO;
        match self.batch_once(need, &chunk).await {
            Ok(answers) => {
                for (k, a) in answers.into_iter().enumerate() {
                    match a {
                        Some(a) if (200..300).contains(&a.status) => {
                            results[indices[k]] = Some(self.parse_body(&a.body));
                        }
                        Some(a) if a.status == 401 || error::retryable(a.status, &a.body) => {
                            // A longer wait is the part's own call's to refuse.
                            wait = wait.max(a.retry_after.unwrap_or_default().min(self.retry.cap));
                            retry.push(k);
                        }
                        Some(a) => {
                            results[indices[k]] = Some(Err(self.error(&a, chunk[k].method)));
                        }
                        // A part missing from the answer is retried alone.
                        None => retry.push(k),
                    }
                }
            }
            Err(_) => retry.extend(0..chunk.len()),
        }
        if !retry.is_empty() && !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        for k in retry {
            results[indices[k]] = Some(self.call(chunk[k]).await);
        }
    }

    /// One batch request; per part its answer (by Content-ID), or None.
    async fn batch_once(&self, need: Need, calls: &[&Call]) -> Result<Vec<Option<Answer>>, Error> {
        let units: u32 = calls.iter().map(|c| self.api.costs.cost(c.method)).sum();
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            attempt += 1;
            self.spend(units, calls.len() as u64).await;
            self.upstream.batches.fetch_add(1, Ordering::Relaxed);
            let token = self.token(need).await?;
            let boundary = format!("batch_commsd_{}", hex::encode(random_bytes()));
            let body = encode(&self.api, calls, &boundary);
            self.upstream.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .post(format!("{}{}", self.api.base, self.api.batch_path))
                .bearer_auth(&token)
                .header(
                    "content-type",
                    format!("multipart/mixed; boundary={boundary}"),
                )
                .body(body)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if attempt < self.retry.max_attempts => {
                    tracing::debug!(account = %self.account, api = self.api.name, error = %e, "Google batch failed; retrying");
                    self.backoff(attempt, None).await;
                    continue;
                }
                Err(e) => return Err(error::unreachable(self.api.name, &e)),
            };
            let status = resp.status().as_u16();
            let retry_after = error::retry_after(
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
            );
            let ctype = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| error::unreachable(self.api.name, &e))?;
            match status {
                200 => return decode(self.api.name, &ctype, &bytes, calls.len()),
                401 if !reauthed => {
                    reauthed = true;
                    self.tokens.rejected(&self.account, &token).await;
                    attempt -= 1;
                }
                s if error::retryable(s, &bytes)
                    && attempt < self.retry.max_attempts
                    && self.waits(retry_after) =>
                {
                    self.backoff(attempt, retry_after).await;
                }
                s => {
                    return Err(error::from_answer(
                        self.api.name,
                        s,
                        &bytes,
                        retry_after,
                        "batch",
                    ));
                }
            }
        }
    }
}

fn encode(api: &super::http::Api, calls: &[&Call], boundary: &str) -> Vec<u8> {
    let mut out = String::new();
    for (i, c) in calls.iter().enumerate() {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n{} {} HTTP/1.1\r\n",
            c.http,
            c.target(api)
        ));
        match &c.body {
            Some(b) => {
                let body = b.to_string();
                out.push_str(&format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}\r\n",
                    body.len()
                ));
            }
            None => out.push_str("\r\n"),
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

fn decode(api: &str, ctype: &str, body: &[u8], n: usize) -> Result<Vec<Option<Answer>>, Error> {
    let boundary = ctype
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| {
            error::malformed(format!("{api}'s batch answer has no multipart boundary"))
        })?;
    let text = String::from_utf8_lossy(body);
    let mut out: Vec<Option<Answer>> = (0..n).map(|_| None).collect();
    for part in text.split(&format!("--{boundary}")).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.trim_start_matches("\r\n");
        let (head, rest) = split_head(part);
        let id = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-id").then(|| {
                v.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        });
        let Some(index) = id
            .as_deref()
            .and_then(|id| id.strip_prefix("response-item"))
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < n)
        else {
            continue;
        };
        let (http_head, http_body) = split_head(rest);
        let mut lines = http_head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let mut retry = None;
        for l in lines {
            if let Some((k, v)) = l.split_once(':')
                && k.trim().eq_ignore_ascii_case("retry-after")
            {
                retry = error::retry_after(Some(v.trim()));
            }
        }
        out[index] = Some(Answer {
            status,
            retry_after: retry,
            body: http_body.trim_end_matches("\r\n").as_bytes().to_vec(),
        });
    }
    Ok(out)
}

fn split_head(s: &str) -> (&str, &str) {
    match s.find("\r\n\r\n") {
        Some(i) => (&s[..i], &s[i + 4..]),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_answers_map_by_content_id() {
        let body = "--b\r\nContent-Type: application/http\r\nContent-ID: <response-item1>\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\n\r\n{}\r\n--b\r\nContent-Type: application/http\r\nContent-ID: <response-item0>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"id\":\"a\"}\r\n--b--\r\n";
        let parts = decode("Gmail", "multipart/mixed; boundary=b", body.as_bytes(), 2).unwrap();
        let a0 = parts[0].as_ref().unwrap();
        assert_eq!(a0.status, 200);
        let v: Value = serde_json::from_slice(&a0.body).unwrap();
        assert_eq!(v["id"], "a");
        let a1 = parts[1].as_ref().unwrap();
        assert_eq!(
            (a1.status, a1.retry_after),
            (429, Some(Duration::from_secs(2)))
        );
    }

    #[test]
    fn an_answer_without_a_boundary_is_an_upstream_error() {
        let e = decode("People", "multipart/mixed", b"", 1).unwrap_err();
        assert_eq!(e.code, crate::error::Code::UpstreamUnavailable);
        assert!(
            e.message.starts_with("People's batch answer"),
            "{}",
            e.message
        );
    }
}
