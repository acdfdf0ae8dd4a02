# Podium in a container. The build stage runs scripts/setup, like a fresh
# machine does (it needs the package registries: apt, crates.io, PyPI, npm).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/setup \
 && (cd client && npm run build) \
 && cargo build --release --locked -p podium-server --bin podium

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates glib-networking \
      libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 gstreamer1.0-plugins-base \
      gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/podium /usr/local/bin/podium
COPY --from=build /src/client/dist /opt/podium/client/dist
# Podium needs no privilege: ports above 1024, nothing written but logs to stderr.
RUN useradd --system --no-create-home --home-dir /opt/podium --shell /usr/sbin/nologin podium
USER podium
WORKDIR /opt/podium
ENV PODIUM_HTTP__STATIC_DIR=/opt/podium/client/dist
EXPOSE 8080
ENTRYPOINT ["podium"]
