FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY worker ./worker
COPY webhooks ./webhooks
COPY simulator ./simulator
COPY cli ./cli
COPY config ./config
RUN pip install --no-cache-dir . && useradd --create-home dispatch
USER dispatch
ENV DATA_DIR=/tmp/data
EXPOSE 8000
CMD ["gunicorn", "-c", "python:webhooks.gunicorn_conf", "webhooks.wsgi:app"]
