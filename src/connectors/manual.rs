//! The `Manual` connector type: evidence a person records on the Release (its annotations,
//! read by `evidence::manual`), never fetched.

use futures::future::BoxFuture;

use super::FetchError;
use super::kind::{About, Answer, Answers, ConnectorKind, Upstream, not_asked};
use super::query::Query;

pub struct Manual;

static ABOUT: About = About {
    refreshed: false,
    ..About::fetched(
        "Evidence a person records on the Release",
        Answers::Manual,
        None,
    )
};

impl ConnectorKind for Manual {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn fetch<'a>(
        &'a self,
        _upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move { Err(not_asked(query)) })
    }
}
