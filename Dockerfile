# Souk in a container: built in one stage, run in a small one as a user without
# privileges. The database and the data key live in /var/lib/souk (a volume): back up
# both (souk backup --to DIR [--with-key]).
#
#   docker build -t souk .
#   docker run -p 8080:8080 -v souk-data:/var/lib/souk souk
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p souk \
    && install -m 0755 target/release/souk /usr/local/bin/souk

FROM debian:bookworm-slim
# ca-certificates: providers, gateways and webhooks over HTTPS; curl: the health check;
# postgresql-client: pg_dump and pg_restore for souk backup/restore on PostgreSQL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 souk \
    && useradd --system --uid 10001 --gid souk --home-dir /var/lib/souk --shell /usr/sbin/nologin souk \
    && install -d -o souk -g souk -m 0700 /var/lib/souk
COPY --from=build /usr/local/bin/souk /usr/local/bin/souk
USER 10001:10001
WORKDIR /var/lib/souk
ENV SOUK_LISTEN=0.0.0.0:8080 \
    SOUK_DATABASE_URL=sqlite:///var/lib/souk/souk.db \
    SOUK_KEY_FILE=/var/lib/souk/souk.key
VOLUME ["/var/lib/souk"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/souk"]
CMD ["serve"]
