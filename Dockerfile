# stridegraph: the account service, as a small non-root image.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    STRIDEGRAPH_HOST=0.0.0.0 \
    STRIDEGRAPH_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY stridegraph ./stridegraph
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /data stridegraph \
    && mkdir -p /data && chown stridegraph /data

USER stridegraph
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
ENTRYPOINT ["stridegraph"]
CMD ["serve", "--workers", "2"]
