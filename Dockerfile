# syntax=docker/dockerfile:1
#
# rollcall container image.
#
#   docker build \
#     --build-arg VERSION="$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[0].version')" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#     -t rollcall:0.1.0 .
#
# The image runs as UID/GID 65532, has no shell, reads its job spec from a mounted file
# (ROLLCALL_CONFIG) and writes nothing but /tmp: Kubernetes can run it with a read-only root
# filesystem. Reports go to S3 or to a mounted volume, logs to stderr, the summary to stdout.

# Must match `rust-version` in Cargo.toml: the build uses exactly the toolchain the code targets.
ARG RUST_VERSION=1.95

# --- chef: the toolchain plus cargo-chef, shared by the two build stages --------------------------
FROM rust:${RUST_VERSION}-bookworm AS chef
# Pinned and --locked so an upstream release cannot change the build.
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

# --- planner: reduce the workspace to a recipe that changes only when dependencies change -------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- builder: dependencies in their own layer, then the binary --------------------------------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# This layer is reused until Cargo.toml or Cargo.lock change, so editing src/ rebuilds only rollcall.
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin rollcall \
    && install -D -m 0755 target/release/rollcall /out/rollcall

# --- runtime: distroless, glibc and CA certificates (object_store and reqwest verify TLS against
# them), no shell, no package manager ------------------------------------------------------------
# The bookworm build stage and debian12 runtime share glibc 2.36.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
ARG SOURCE=https://github.com/rollcall/rollcall

LABEL org.opencontainers.image.title="rollcall" \
      org.opencontainers.image.description="Scheduled compliance exports: who still has access, who still counts against a licence." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.documentation="${SOURCE}/blob/main/docs/kubernetes.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder --chown=0:0 /out/rollcall /usr/local/bin/rollcall

# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# No WORKDIR under /tmp on purpose: a relative output path (the spec's default `./reports`) must
# fail loudly on a read-only root rather than land in scratch space that vanishes with the pod.

ENTRYPOINT ["/usr/local/bin/rollcall"]
CMD ["--help"]
