# One image for every role: `docker run IMAGE web|stream|worker` (compose.yaml and
# deploy/k8s/ pass the role as the command). Installs exactly requirements.lock, what
# `make run` installs; the test tools never enter it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/pulse

# The locked dependencies first, in a layer of their own: a code change does not reinstall them.
COPY requirements.lock ./
RUN python -m pip install -r requirements.lock

COPY app.py ./
COPY app ./app
COPY data ./data
COPY components ./components
COPY callbacks ./callbacks
COPY assets ./assets

# Never root: a fixed uid, so that Kubernetes' runAsNonRoot can check it without a name.
RUN useradd --system --uid 10001 --user-group --home-dir /srv/pulse --shell /usr/sbin/nologin pulse \
    && mkdir -p /srv/pulse/var \
    && chown pulse:pulse /srv/pulse/var
USER 10001:10001

# Listen on every interface inside the container; the orchestrator decides what reaches it.
# DATABASE_URL, REDIS_URL and SECRET_KEY are not set here: compose.yaml and the Kubernetes
# Secret give them. Left unset, a container would start an embedded PostgreSQL and Redis of
# its own, which is `make run` on one machine, never a replica of a cluster.
ENV HOST=0.0.0.0 \
    PORT=8050 \
    VAR_DIR=/srv/pulse/var \
    DEMO_DATA=0
EXPOSE 8050

ENTRYPOINT ["python", "app.py"]
CMD ["web"]
