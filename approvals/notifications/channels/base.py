"""What channels share: the error they raise and a small JSON-over-HTTP client."""

from __future__ import annotations

import urllib.error
import urllib.request


class DeliveryError(Exception):
    """A message did not go out. ``permanent`` means retrying cannot help
    (a channel not configured, a person Slack does not know)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def post(url: str, body: bytes, *, headers: dict[str, str], timeout: float) -> str:
    """POST ``body``; return the response text on 2xx, raise DeliveryError otherwise."""
    if not url.startswith(("http://", "https://")):
        raise DeliveryError(f"not an http(s) URL: {url!r}", permanent=True)
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode("utf-8", "replace") if exc.fp else ""
        raise DeliveryError(f"HTTP {exc.code} from {url}: {text.strip()}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {url}: {reason}") from exc
