"""The bare endpoint: intake's server stack (FastAPI on uvicorn, same settings) with one POST route.

`python -m bench.bare_app PORT` answers `POST /v1/referrals` with 201 after reading the body,
and `GET /readyz` with 200: no authentication, validation, database or Kafka. wrk drives it with
the same script as intake, so the ratio intake / bare is what intake's own work costs.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/v1/referrals", status_code=201)
async def accept(request: Request) -> Response:
    body = await request.body()
    return Response(content=b'{"received": %d}' % len(body), status_code=201)


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    import uvicorn

    from services.common.serving import SERVER_HTTP, SERVER_LOOP

    # As services.common.serving.serve runs each service (same loop, parser, no access log).
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop=SERVER_LOOP,
        http=SERVER_HTTP,
        log_config=None,
        access_log=False,
    )
