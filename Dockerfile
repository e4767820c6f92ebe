# One image for the three services and the demo receiver; the compose file picks the command.
# GOV.UK Frontend for intake's web form, from npm at the version pinned in its package-lock.json.
FROM node:20-slim AS web-assets
WORKDIR /frontend
COPY services/intake/web/frontend/package.json services/intake/web/frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY --from=web-assets /frontend/node_modules ./services/intake/web/frontend/node_modules
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 app
USER app
EXPOSE 8001 8002 8003 8090
CMD ["python", "-m", "services.intake", "serve"]
