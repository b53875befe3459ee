"""A connection to a clinic's PACS over DICOMweb (dicomweb-client over a requests session): where the credentials
come from, what is refused before anything is sent, and every failure as one PacsError line naming the server.

    open_pacs(url, max_bytes=MAX_INSTANCE_BYTES, environ=os.environ) -> Pacs
    pacs.call(what, function, *args, **kwargs)  a dicomweb-client call, its failures as PacsError

Credentials: a bearer token (SIAMESE_LENS_PACS_TOKEN) or a user and password (SIAMESE_LENS_PACS_USER,
SIAMESE_LENS_PACS_PASSWORD) from the environment, else the OS keyring when the `keyring` package is installed
(service KEYRING_SERVICE, the user's name or none). Never from a settings file or the command line, and never
printed: messages name the server only. TLS certificates are verified (requests' default; REQUESTS_CA_BUNDLE
names a clinic's own CA), credentials are never sent in the clear to another machine, every request has a
timeout, and is tried at most ATTEMPTS times.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import SiameseLensError
from core.io.files import first_line, printable

ENV_TOKEN, ENV_USER, ENV_PASSWORD = "SIAMESE_LENS_PACS_TOKEN", "SIAMESE_LENS_PACS_USER", "SIAMESE_LENS_PACS_PASSWORD"
KEYRING_SERVICE = "Siamese Lens PACS"
TIMEOUT_S = (5.0, 60.0)  # to connect, then between two bytes of an answer
# Each request is tried at most twice: a refused connection, a timeout, an answer over the size limit or a busy
# server (408, 429, 503, 504) once more after a second (dicomweb-client's retrying); never forever.
ATTEMPTS = 2
MAX_INSTANCE_BYTES = 512 * 1024 * 1024  # one instance's answer; a dermoscopy photograph is a few MB


class PacsError(SiameseLensError):
    """A PACS cannot be reached, refuses us, or answers something unusable; one line naming the server."""


@dataclass
class Pacs:
    url: str
    client: object  # dicomweb_client.DICOMwebClient
    max_bytes: int

    def call(self, what: str, function, *args, **kwargs):
        """`function(*args, **kwargs)`, a request to the PACS about `what`, its failures as one PacsError line."""
        import requests

        try:
            return function(*args, **kwargs)
        except PacsError:
            raise
        except requests.exceptions.SSLError:
            raise PacsError(f"{self.url}: the server's TLS certificate is not trusted (set REQUESTS_CA_BUNDLE to "
                            "the clinic's CA certificate)") from None
        except requests.exceptions.Timeout:
            raise PacsError(f"{self.url}: no answer within {TIMEOUT_S[1]:.0f} s ({what})") from None
        except requests.exceptions.ConnectionError as exc:
            raise PacsError(f"{self.url}: cannot reach the PACS ({_reason(exc)})") from None
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise PacsError(f"{self.url}: access denied (HTTP {status}): set {ENV_USER} and {ENV_PASSWORD}, "
                                f"or {ENV_TOKEN}, or store them in the OS keyring (with the keyring package "
                                "installed)") from None
            reason = exc.response.reason if exc.response is not None else ""
            raise PacsError(f"{self.url}: the PACS refused {what} (HTTP {status} {printable(reason, 80)})") from None
        except requests.exceptions.RequestException as exc:
            raise PacsError(f"{self.url}: {what} failed ({first_line(exc, 120)})") from None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:  # a malformed answer
            raise PacsError(f"{self.url}: unreadable answer to {what} ({first_line(exc, 120)})") from None


def open_pacs(url: str, max_bytes: int = MAX_INSTANCE_BYTES, environ=None) -> Pacs:
    """A Pacs for the DICOMweb service at `url` (e.g. https://pacs.example.org/dicom-web); nothing is sent yet.
    PacsError for a URL that is not http(s), carries credentials, or would send credentials in the clear."""
    import requests
    from dicomweb_client.api import DICOMwebClient

    environ = os.environ if environ is None else environ
    shown = printable(url, 200)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PacsError(f"{shown}: a PACS address is an http(s) URL of its DICOMweb service, e.g. "
                        "https://pacs.example.org/dicom-web")
    if parts.username or parts.password:
        raise PacsError(f"{parts.scheme}://{parts.hostname}: credentials do not belong in the URL (command lines "
                        f"are logged): set {ENV_USER} and {ENV_PASSWORD}, or {ENV_TOKEN}")
    session = requests.Session()
    auth = credentials(environ)
    if auth is not None and parts.scheme == "http" and not _loopback(parts.hostname):
        raise PacsError(f"{shown}: refusing to send credentials unencrypted to {parts.hostname}; use https")
    if isinstance(auth, str):
        session.headers["Authorization"] = f"Bearer {auth}"
    elif auth is not None:
        session.auth = auth
    session.hooks["response"].append(_size_cap(max_bytes, shown))
    client = DICOMwebClient(url.rstrip("/"), session=session, timeout=TIMEOUT_S)
    client.set_http_retry_params(retry=True, max_attempts=ATTEMPTS, wait_exponential_multiplier=500)
    return Pacs(shown, client, max_bytes)


def credentials(environ) -> str | tuple[str, str] | None:
    """A bearer token, or (user, password), or None (an open server): the environment first, then the keyring."""
    token = environ.get(ENV_TOKEN, "")
    if token:
        return token
    user, password = environ.get(ENV_USER, ""), environ.get(ENV_PASSWORD, "")
    if user and password:
        return (user, password)
    try:
        import keyring
    except ImportError:
        return None
    try:
        if user:
            stored = keyring.get_password(KEYRING_SERVICE, user)
            return (user, stored) if stored else None
        credential = keyring.get_credential(KEYRING_SERVICE, None)
    except Exception:  # noqa: BLE001  a keyring without a usable backend (headless machine): no stored credentials
        return None
    return (credential.username, credential.password) if credential and credential.password else None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _size_cap(max_bytes: int, shown: str):
    """A requests response hook that refuses an answer over `max_bytes` while it arrives: by its Content-Length
    before reading, else counted as it is read, so a huge instance never fills the memory."""

    def hook(response, *args, **kwargs):
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > max_bytes:
            response.close()
            raise PacsError(f"{shown}: an answer of {int(length):,} bytes is over the limit of {max_bytes:,} bytes "
                            "(a huge instance is not pulled)")
        if response.raw is not None and not length.isdigit():
            chunks, total = [], 0
            for chunk in response.iter_content(1 << 20):
                total += len(chunk)
                if total > max_bytes:
                    response.close()
                    raise PacsError(f"{shown}: an answer over the limit of {max_bytes:,} bytes (a huge instance is "
                                    "not pulled)")
                chunks.append(chunk)
            response._content = b"".join(chunks)  # requests has no public way to keep a body read here
        return response

    return hook


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for reason in ("Connection refused", "Name or service not known", "No route to host", "timed out",
                   "Temporary failure in name resolution", "Network is unreachable"):
        if reason in text:
            return reason.lower()
    return first_line(exc, 120)
