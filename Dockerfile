# The logcatch container image. The build stage makes the Debian package with the same
# script as a release (scripts/package); the image holds only files that package installs
# (the binary, the example plugins, the config), the libraries the package depends on,
# and runs as a user of its own, never root.
#
#   docker build -t logcatch .
#   docker run --rm -v /var/log:/var/log:ro -v logcatch-data:/var/lib/logcatch logcatch
#
# Give it your own config with -v ./logcatch.yaml:/etc/logcatch/logcatch.yaml:ro. The
# admin API of the packaged config listens on the container's loopback; to reach it from
# outside, listen on 0.0.0.0:9420 with a token (see "Install" in the README).
# tests/package.py checks that every file this copies is in the package.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/setup --build \
    && scripts/package \
    && mkdir /package \
    && dpkg-deb -x target/debian/logcatch_*.deb /package

FROM debian:bookworm-slim
# The package's library dependencies (its Depends: but adduser, which only its postinst
# uses): OpenSSL for Kafka's TLS, and the CA certificates TLS checks servers against.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libssl3=3.0.19-1~deb12u2 ca-certificates=20230311+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 logcatch \
    && useradd --system --uid 10001 --gid logcatch --groups adm \
        --home-dir /var/lib/logcatch --no-create-home --shell /usr/sbin/nologin logcatch \
    && install -d -o logcatch -g logcatch -m 0750 /var/lib/logcatch
COPY --from=build /package/usr/bin/logcatch /usr/bin/logcatch
COPY --from=build /package/usr/lib/logcatch/plugins/ /usr/lib/logcatch/plugins/
COPY --from=build /package/etc/logcatch/logcatch.yaml /etc/logcatch/logcatch.yaml
USER logcatch:logcatch
VOLUME /var/lib/logcatch
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/logcatch"]
CMD ["run", "--config", "/etc/logcatch/logcatch.yaml"]
