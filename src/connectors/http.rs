//! The HTTP client every connector shares: rustls with the ring provider, the platform's
//! roots, per-call timeouts set by each connector, bounded response sizes.

use std::time::Duration;

use super::FetchError;

/// Responses larger than this are refused: a status page or a query result is small.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    client_with(reqwest::redirect::Policy::limited(3))
}

/// The same client, following redirects as `redirect` says.
pub fn client_with(redirect: reqwest::redirect::Policy) -> Result<reqwest::Client, reqwest::Error> {
    // Idempotent: the first caller in the process installs it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("release-passport/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .redirect(redirect)
        .build()
}

/// Sends `request` with an optional bearer token within `timeout`: the status and the body.
async fn send(
    request: reqwest::RequestBuilder,
    token: Option<&str>,
    timeout: Duration,
    headers: &[(&str, &str)],
) -> Result<(reqwest::StatusCode, Vec<u8>), FetchError> {
    let mut request = request
        .timeout(timeout)
        .header("Accept", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.map_err(|e| classify(&e))?;
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        return Err(FetchError::RateLimited {
            retry_after: retry_after(
                header("retry-after").as_deref(),
                header("x-ratelimit-reset").as_deref(),
                chrono::Utc::now(),
            ),
        });
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(FetchError::Credential(format!(
            "the upstream refused the credential (HTTP {status})"
        )));
    }
    Ok((status, read_bounded(response).await?))
}

/// How long a 429 asks us to wait (pure): `Retry-After` in seconds or as an HTTP date, else a
/// rate-limit reset in seconds (Datadog's `X-RateLimit-Reset`); at most an hour.
pub fn retry_after(
    retry_after: Option<&str>,
    reset: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let seconds = |v: &str| v.trim().parse::<u64>().ok().map(Duration::from_secs);
    let date = |v: &str| {
        let at = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
        (at.with_timezone(&chrono::Utc) - now).to_std().ok()
    };
    retry_after
        .and_then(|v| seconds(v).or_else(|| date(v)))
        .or_else(|| reset.and_then(seconds))
        .map(|d| d.min(Duration::from_secs(3600)))
}

fn not_json(e: &serde_json::Error) -> FetchError {
    FetchError::Upstream(format!("the response is not the expected JSON: {e}"))
}

fn http_error(status: reqwest::StatusCode, body: &[u8]) -> FetchError {
    FetchError::Upstream(format!(
        "HTTP {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    ))
}

/// GETs JSON; any non-2xx answer is an error.
pub async fn get_json(
    client: &reqwest::Client,
    url: reqwest::Url,
    token: Option<&str>,
    timeout: Duration,
    headers: &[(&str, &str)],
) -> Result<serde_json::Value, FetchError> {
    let (status, body) = send(client.get(url), token, timeout, headers).await?;
    if !status.is_success() {
        return Err(http_error(status, &body));
    }
    serde_json::from_slice(&body).map_err(|e| not_json(&e))
}

/// Like [`get_json`], but a 4xx answer with a JSON body is returned as JSON: APIs such as
/// Prometheus's and InfluxDB's report a bad query that way.
pub async fn get_json_lenient(
    client: &reqwest::Client,
    url: reqwest::Url,
    token: Option<&str>,
    timeout: Duration,
    headers: &[(&str, &str)],
) -> Result<serde_json::Value, FetchError> {
    lenient(send(client.get(url), token, timeout, headers).await?)
}

/// POSTs `body` as JSON and reads the answer as [`get_json_lenient`] does (GraphQL APIs such as
/// New Relic's NerdGraph report a refused query in a JSON body).
pub async fn post_json_lenient(
    client: &reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> Result<serde_json::Value, FetchError> {
    lenient(send(client.post(url).json(body), None, timeout, headers).await?)
}

/// A 2xx or 4xx answer's JSON; any other answer, or one that is not JSON, is an error.
fn lenient(
    (status, body): (reqwest::StatusCode, Vec<u8>),
) -> Result<serde_json::Value, FetchError> {
    match serde_json::from_slice(&body) {
        Ok(json) if status.is_success() || status.is_client_error() => Ok(json),
        _ if !status.is_success() => Err(http_error(status, &body)),
        Ok(json) => Ok(json),
        Err(e) => Err(not_json(&e)),
    }
}

pub async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::Upstream(format!(
                "the response is larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub fn classify(e: &reqwest::Error) -> FetchError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        FetchError::Unreachable(format!("timed out: {text}"))
    } else if e.is_connect() || e.is_request() {
        FetchError::Unreachable(text)
    } else {
        FetchError::Upstream(text)
    }
}

/// `endpoint` with `segments` appended as path segments.
pub fn join(endpoint: &str, segments: &[&str]) -> Result<reqwest::Url, FetchError> {
    let mut url = reqwest::Url::parse(endpoint)
        .map_err(|e| FetchError::Config(format!("endpoint is not a URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| FetchError::Config("endpoint cannot be a base URL".into()))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_hints_in_every_documented_form() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let s = Duration::from_secs;
        assert_eq!(retry_after(Some("120"), None, now), Some(s(120)));
        assert_eq!(
            retry_after(Some("Mon, 07 Dec 2026 10:00:30 GMT"), None, now),
            Some(s(30))
        );
        assert_eq!(retry_after(None, Some("7"), now), Some(s(7)));
        assert_eq!(retry_after(Some("soon"), Some("7"), now), Some(s(7)));
        assert_eq!(retry_after(Some("999999"), None, now), Some(s(3600)));
        assert_eq!(retry_after(None, None, now), None);
    }
}
