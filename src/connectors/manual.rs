//! The `Manual` connector type: evidence a person records on the Release (its annotations,
//! read by `evidence::manual`), never fetched.

use futures::future::BoxFuture;

use super::FetchError;
use super::kind::{Answer, Answers, ConnectorKind, Upstream, not_asked};
use super::query::Query;

pub struct Manual;

impl ConnectorKind for Manual {
    fn reads(&self) -> &'static str {
        "Evidence a person records on the Release"
    }

    fn answers(&self) -> Answers {
        Answers::Manual
    }

    fn refreshed(&self) -> bool {
        false
    }

    fn fetch<'a>(
        &'a self,
        _upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move { Err(not_asked(query)) })
    }
}
