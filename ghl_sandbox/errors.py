"""GHL's error bodies (REFERENCE.md §a) and small shared helpers (ids, timestamps)."""
import secrets
import string
from datetime import UTC, datetime

ID_ALPHABET = string.ascii_letters + string.digits


class ApiError(Exception):
    """Raised by handlers; the app turns it into a JSON response with GHL's error shape."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(message: str = "Bad Request", **extra) -> ApiError:
    return ApiError(400, {"statusCode": 400, "message": message, **extra})


def unauthorized(message: str = "Invalid token: access token is invalid") -> ApiError:
    return ApiError(401, {"statusCode": 401, "message": message, "error": "Unauthorized"})


def forbidden(message: str = "The token does not have access to this location.") -> ApiError:
    return ApiError(403, {"statusCode": 403, "message": message, "error": "Forbidden"})


def not_found(message: str = "Not Found") -> ApiError:
    return ApiError(404, {"statusCode": 404, "message": message, "error": "Not Found"})


def unprocessable(*messages: str) -> ApiError:
    return ApiError(422, {"statusCode": 422, "message": list(messages), "error": "Unprocessable Entity"})


def oauth_error(status: int, error: str, description: str) -> ApiError:
    # Token-endpoint failures are OAuth-style bodies [obs], not GHL's usual DTOs.
    return ApiError(status, {"error": error, "error_description": description})


def new_id(length: int = 20) -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def iso(ms: int | None = None) -> str:
    dt = datetime.now(UTC) if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso_ms(value: str) -> int:
    """ISO 8601 (with Z or offset) or epoch ms as string/number -> epoch ms. Raises ValueError."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
