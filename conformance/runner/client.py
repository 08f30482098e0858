"""The runner's HTTP client (http://hl7.org/fhir/R4/http.html): FHIR JSON, the base URL, a Bearer token."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"


class Fhir:
    """A small FHIR REST client over httpx; every call returns the raw response."""

    def __init__(
        self, base: str, token: str | None = None, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base = base.rstrip("/")
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(headers=headers, timeout=timeout, transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base}/{path.lstrip('/')}"

    def get(self, path: str, params: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(self.url(path), params=params, headers=headers)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(self.url(path), json=body, headers={"Content-Type": FHIR_JSON, **(headers or {})})

    def put(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.put(self.url(path), json=body, headers={"Content-Type": FHIR_JSON, **(headers or {})})

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(self.url(path))

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, params: Any = None
    ) -> httpx.Response:
        extra = {"Content-Type": FHIR_JSON} if body is not None else {}
        return self.http.request(method, self.url(path), json=body, params=params, headers={**extra, **(headers or {})})


def json_of(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
