# syntax=docker/dockerfile:1

# GraphiQL's browser files come from the npm registry at build time; the server serves them itself.
FROM node:20-slim AS graphiql
WORKDIR /graphiql
COPY server/graphiql/package.json server/graphiql/package-lock.json server/graphiql/.npmrc* ./
RUN npm ci --no-audit --no-fund --loglevel=error


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 channelbill \
 && useradd --system --uid 10001 --gid channelbill --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin channelbill

# The PDF documents are set in DejaVu Sans (Latin, Greek, Cyrillic) and WenQuanYi Zen Hei (CJK, a
# TrueType font: ReportLab embeds none with CFF outlines, such as Noto Sans CJK); without them, a
# PDF names the characters it cannot print in a note on its first page.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends fonts-dejavu-core fonts-wqy-zenhei >/dev/null \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that a code change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .
COPY --from=graphiql /graphiql/node_modules server/graphiql/node_modules

# Editable (compat: a .pth naming /app): the server finds GraphiQL, its page files and the
# migrations next to its own source, which a wheel install into site-packages would not carry.
# data/ is where SQLite lives when no DATABASE_URL is given: the only place the app writes.
RUN pip install --no-deps -e . --config-settings editable_mode=compat \
 && mkdir -p data \
 && chown channelbill:channelbill data

USER channelbill

# Production unless told otherwise: it refuses the development secret and the demo password.
ENV CHANNELBILL_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000

CMD ["channelbill", "serve"]
