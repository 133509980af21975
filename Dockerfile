# syntax=docker/dockerfile:1
# The Count Cachula silo + web frontend as an image: built in the SDK image, run as a non-root user on the ASP.NET
# runtime image. `docker compose up` (docker-compose.yml) and deploy/kubernetes/ use it.
#   docker build -t countcachula .
#   docker run -p 8080:8080 -e CountCachula__Auth__SigningKey=... countcachula

# Only the files restore reads, so the restore layer is rebuilt when a project or package changes, not on every
# source edit (this stage's output is identical after a source-only change, so the COPY below stays cached).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS projects
WORKDIR /src
COPY . .
RUN find . -type f ! -name '*.csproj' ! -name 'packages.lock.json' ! -name 'Directory.*.props' ! -name 'global.json' -delete

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY --from=projects /src ./
# Locked mode: every package, transitive ones included, at the version in src/WebFrontend/packages.lock.json (which
# Directory.Packages.props pins); a lock that does not match the projects fails the build instead of drifting.
RUN dotnet restore src/WebFrontend/WebFrontend.csproj --locked-mode
COPY . .
RUN dotnet publish src/WebFrontend/WebFrontend.csproj -c Release --no-restore -o /app/publish

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app/publish ./
# The runtime image's unprivileged user (uid 1654); nothing here needs root.
USER $APP_UID
# HTTP (ASPNETCORE_HTTP_PORTS, the image's default), the Orleans silo port and gateway port (Orleans__SiloPort,
# Orleans__GatewayPort). Those two take any caller unless cluster TLS is configured (CountCachula__Cluster__Tls__*, a
# certificate and the cluster's CA): a Production silo that listens beyond loopback refuses to start without it
# (docs/security.md, "Cluster transport security (mTLS)"). Publish them only to the cluster's own network.
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080 11111 30000
# The image has no curl or wget: the app asks its own /health/ready (src/WebFrontend/Hosting/HealthCheckCommand.cs).
HEALTHCHECK --interval=10s --timeout=7s --start-period=60s --retries=3 CMD ["/app/CountCachula.WebFrontend", "healthcheck"]
ENTRYPOINT ["/app/CountCachula.WebFrontend"]
