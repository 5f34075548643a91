# inficond on Debian 12 with the same Debian packages the Makefile's deps step installs.
# Build:  docker compose build      Run: docker compose up   (see docker-compose.yml)
FROM debian:12-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
      gcc g++ make libmicrohttpd-dev libjansson-dev libpq-dev libopenblas-dev \
      libturbojpeg0-dev libtorch-dev libsodium-dev libarchive-dev libspng-dev libutf8proc-dev \
      zlib1g-dev nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY Makefile ./
COPY server server
COPY shim shim
RUN make -j"$(nproc)" build/inficond
COPY static static
RUN mkdir -p static/vendor && cp node_modules/d3/dist/d3.min.js static/vendor/

FROM debian:12-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libpq5 libopenblas0 libturbojpeg0 libtorch1.13 \
      libsodium23 libarchive13 libspng0 libutf8proc2 zlib1g dataset-fashion-mnist curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/inficond --create-home inficond
WORKDIR /opt/inficond
COPY --from=build /src/build/inficond /src/build/libinficond_shim.so build/
COPY --from=build /src/static static
COPY migrations migrations
COPY scripts/healthcheck.sh scripts/healthcheck.sh
ENV INFICOND_BIND=0.0.0.0 \
    INFICOND_PORT=8080 \
    INFICOND_DATA_DIR=/var/lib/inficond \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1
USER inficond
EXPOSE 8080
# HTTPS when INFICOND_TLS_CERT is set, plain HTTP otherwise.
HEALTHCHECK --interval=10s --timeout=5s --retries=5 CMD ["/opt/inficond/scripts/healthcheck.sh"]
ENTRYPOINT ["/opt/inficond/build/inficond"]
CMD ["serve"]
