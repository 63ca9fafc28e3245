//! What the console answers when it cannot show what was asked: one type renders the 404 and
//! 400 pages in the console's frame, and the same refusals as JSON under `/api/v1/`. A
//! passport the viewer may not see and one that does not exist look the same.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::Shared;
use super::auth::{Identity, Visibility};
use super::layout::{Nav, Page, layout};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    NotFound(String),
    /// The request cannot be understood (a query parameter of the wrong type).
    BadRequest(String),
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::NotFound(_) => StatusCode::NOT_FOUND,
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::NotFound(m) | Failure::BadRequest(m) => m,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Failure::NotFound(_) => "Not found",
            Failure::BadRequest(_) => "Not understood",
        }
    }

    /// The page, in the console's frame.
    pub fn markup(&self, page: &Page) -> Markup {
        let body = html! {
            h1 { (self.title()) }
            p { (self.message()) }
            p { a href="/console" { "Back to the overview" } }
        };
        layout(page, Nav::Overview, self.title(), body)
    }

    /// The page with its status code.
    pub fn page(&self, page: &Page) -> Response {
        (
            self.status(),
            axum::response::Html(super::finish(self.markup(page))),
        )
            .into_response()
    }

    /// The JSON answer of the `/api/v1/` routes.
    pub fn json(&self) -> Response {
        (
            self.status(),
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"error": self.message()}).to_string(),
        )
            .into_response()
    }

    /// The answer to `parts`' request: JSON for the API, else the page.
    fn answer(&self, parts: &Parts, console: &Shared) -> Response {
        if parts.uri.path().starts_with("/api/") {
            return self.json();
        }
        let snap = console.source.snapshot();
        // Authentication ran before any handler; without an identity the frame shows nothing.
        let user = parts
            .extensions
            .get::<Identity>()
            .cloned()
            .unwrap_or_else(|| Identity {
                name: String::new(),
                groups: Vec::new(),
                visibility: Visibility::Only(Default::default()),
                via: "none",
            });
        let here = super::layout::Here {
            uri: parts.uri.path().to_string(),
            refresh: None,
        };
        self.page(&Page {
            snap: &snap,
            user: &user,
            here: &here,
        })
    }
}

/// Query parameters, refused with the console's 400 page (or JSON) instead of axum's plain text.
pub struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<Shared> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Shared) -> Result<Self, Response> {
        match Query::<T>::try_from_uri(&parts.uri) {
            Ok(Query(t)) => Ok(Params(t)),
            Err(e) => Err(Failure::BadRequest(format!(
                "The query string is not understood: {}.",
                e.body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
            ))
            .answer(parts, console)),
        }
    }
}
