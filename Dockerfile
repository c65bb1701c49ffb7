# Lifeline worker image: `docker build -t lifeline .`
# The same image runs every command: `python -m streams worker|topics|migrate|replay|...`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies and the package. The rocksdb extra (rocksdict) ships manylinux wheels, so it
# installs on slim without a compiler and LIFELINE_STORE=rocksdb:// is available.
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY agents ./agents
COPY online_models ./online_models
# migrations/ is not part of the installed package: `python -m streams migrate` finds it next
# to streams/ in /app, so commands run from WORKDIR /app (the source tree shadows the copy in
# site-packages; both are the same code).
COPY migrations ./migrations
RUN pip install '.[rocksdb]' \
    && rm -rf build ./*.egg-info \
    && useradd --create-home --uid 10001 --user-group lifeline \
    && mkdir -p /app/var \
    && chown lifeline:lifeline /app/var

USER lifeline

# Faust table state (and the SQLite file if LIFELINE_DATABASE_URL is left at its default).
ENV LIFELINE_DATA_DIR=/app/var/faust

# The worker's web server (LIFELINE_WEB_PORT); not used with --without-web. It listens on
# 127.0.0.1 unless LIFELINE_WEB_BIND says otherwise (0.0.0.0 to reach it from outside the
# container), and never serves table contents (/table) or key routing (/router).
EXPOSE 6066

CMD ["python", "-m", "streams", "worker", "-l", "info"]
