# Multi-stage build: a static-ish release binary on a distroless, non-root base.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY examples examples
COPY benches benches
RUN cargo build --release --locked --bin passport

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/passport /usr/local/bin/passport
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/passport"]
CMD ["controller"]
