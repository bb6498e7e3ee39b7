"""AWS Signature Version 4 for the lean transport's POST requests, as botocore's `SigV4Auth` computes it.

Only what these requests need: a POST to the endpoint's path with no query string, every header but the user agent
signed. The signing key is derived once a day per secret, region and service instead of on every call.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


ALGORITHM = "AWS4-HMAC-SHA256"


class Signer:
    """Signs requests for one region and service; safe to share between threads."""

    def __init__(self, region: str, service: str) -> None:
        self.region = region
        self.service = service
        self._keys: dict[tuple[str, str], bytes] = {}

    def _key(self, secret: str, day: str) -> bytes:
        key = self._keys.get((secret, day))
        if key is None:
            key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            # A new day or new credentials replace what was kept
            self._keys = {(secret, day): key}
        return key

    def authorization(
        self, access_key: str, secret: str, amz_date: str, path: str, signed: Sequence[tuple[str, str]], body: bytes,
    ) -> str:
        """The Authorization header of a POST of `body` to `path` (canonical: normalized and escaped); `signed`
        holds (lower-cased name, value) pairs."""
        headers = sorted(signed)
        names = ";".join(name for name, _ in headers)
        canonical = "\n".join((
            "POST", path, "",
            *(f"{name}:{' '.join(value.split())}" for name, value in headers),
            "", names, hashlib.sha256(body).hexdigest(),
        ))
        day = amz_date[:8]
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key(secret, day), to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
