# Build: docker build -t simbench .   Run: see docker-compose.yml (the service needs PostgreSQL).
FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY openapi.yaml ./
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas0-pthread ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/simbench --create-home simbench
COPY --from=build /src/target/release/simbench /usr/local/bin/simbench
USER simbench
WORKDIR /var/lib/simbench
ENV SIMBENCH_BIND=0.0.0.0:8080 \
    SIMBENCH_LOG_FORMAT=json \
    SIMBENCH_DATA_DIR=/var/lib/simbench
EXPOSE 8080
ENTRYPOINT ["simbench"]
CMD ["serve"]
