FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY dashboard ./dashboard
RUN pip install --no-cache-dir ".[prepare]" \
 && LATENCY_SLAYER_MODEL_DIR=/opt/latency-slayer latency-slayer prepare-model

ENV LATENCY_SLAYER_MODEL_DIR=/opt/latency-slayer
EXPOSE 8080
CMD ["latency-slayer", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
